"""Generator B's mechanics: a spring-mass hopper, ringing landings, an arm that filters, a driven rope.

The trunk is a point mass on a leg spring (a vertical spring-loaded inverted pendulum):
in the air it falls freely; on the ground the leg compresses with its own stiffness and
extends again to the take-off speed of the next hop, so contact times and force shapes
follow from the stiffness and the hop heights, not from a prescribed pulse. Each
touch-down also excites damped modes (shoe and floor, shank, soft tissue) in proportion
to the touch-down speed. The wrist is reached through the arm, a base-excited
mass-spring (its own resonance and damping) plus a direct share of the fast modes.

The rope is a rotating body with inertia, gravity and drag, driven by the wrist's
feedback controller towards the phase the jumps need (under the feet once per flight,
twice for a double under); the hands follow the rope on a tilted ellipse, leading it.
Everything is in SI units (m/s^2) on `Frame`'s fine grid; the IMU model turns it into g.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from repcount import heavy
from repcount.data.generator_b.people import PersonB

G = 9.81  # m/s^2


@dataclass
class Frame:
    """The motion on B's fine grid: the trunk, the landings, the sensor limb, and the labels."""

    rate: float
    n: int
    mount: str
    person: PersonB
    rng: np.random.Generator
    trunk: np.ndarray = field(init=False)  # vertical kinematic acceleration of the trunk
    landing: np.ndarray = field(init=False)  # landing transients at the trunk (vertical)
    limb: np.ndarray = field(init=False)  # (n, 3) the sensor's own motion relative to the trunk
    flex: np.ndarray = field(init=False)  # rotation of the limb about the person's flex axis
    posture: np.ndarray = field(init=False)  # (n, 2) slow pitch and roll of the limb
    segments: list[tuple[float, float, str]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trunk = np.zeros(self.n)
        self.landing = np.zeros(self.n)
        self.limb = np.zeros((self.n, 3))
        self.flex = np.zeros(self.n)
        self.posture = np.zeros((self.n, 2))

    def index(self, t: float) -> int:
        return int(min(max(round(t * self.rate), 0), self.n))

    def times(self, t0: float, t1: float) -> tuple[slice, np.ndarray]:
        """Grid slice of [t0, t1) and its absolute times."""
        i0, i1 = self.index(t0), self.index(t1)
        return slice(i0, i1), np.arange(i0, i1) / self.rate

    def hold_posture(self, t0: float, t1: float, pitch: float, roll: float) -> None:
        self.posture[self.index(t0): self.index(t1)] = (pitch, roll)

    def label(self, t0: float, t1: float, activity: str) -> None:
        self.segments.append((round(float(t0), 3), round(float(t1), 3), activity))

    def event(self, t: float, kind: str) -> None:
        self.events.append((round(float(t), 3), kind))


# --- the spring-mass hopper ---------------------------------------------------------------


def _stance_shape(v_in: float, v_out: float, omega: float) -> tuple[float, float, float, float, float, float]:
    """(c, x_m, t_down, w2, c2, t_up): the closed form of a contact (see `stance`)."""
    c = G / omega**2
    x_m = c + np.hypot(c, v_in / omega)  # deepest compression
    t_down = (np.pi - np.arctan2(v_in * omega, G)) / omega
    w2 = np.sqrt((v_out**2 + 2 * G * x_m) / x_m**2)  # the extension's stiffness that gives v_out
    c2 = G / w2**2
    t_up = np.arccos(np.clip(-c2 / (x_m - c2), -1, 1)) / w2
    return c, x_m, t_down, w2, c2, t_up


def stance(v_in: float, v_out: float, omega: float, rate: float) -> np.ndarray:
    """Vertical kinematic acceleration of one ground contact of a leg spring, sampled at `rate`.

    Compression from touch-down at speed v_in (stiffness omega^2 per unit mass) to the
    deepest point, then extension with the stiffness that returns exactly v_out at
    take-off (the leg injects or absorbs the difference). Returns m/s^2 (upwards).
    """
    c, x_m, t_down, w2, c2, t_up = _stance_shape(v_in, v_out, omega)
    t = np.arange(int(np.ceil((t_down + t_up) * rate))) / rate
    down = c * (1 - np.cos(omega * t)) + v_in / omega * np.sin(omega * t)
    up = c2 + (x_m - c2) * np.cos(w2 * (t - t_down))
    x = np.where(t < t_down, down, up)
    stiff = np.where(t < t_down, omega**2, w2**2)
    return stiff * np.maximum(x, 0.0) - G


def contact_time(v_in: float, v_out: float, omega: float) -> float:
    """How long `stance(v_in, v_out, omega)` lasts, in seconds."""
    _, _, t_down, _, _, t_up = _stance_shape(v_in, v_out, omega)
    return float(t_down + t_up)


def stiffness_for(v: float, contact: float) -> float:
    """The leg's omega (rad/s) whose contact, landing and leaving at speed v, lasts `contact` seconds."""
    omegas = np.geomspace(3.0, 300.0, 400)
    times = np.array([contact_time(v, v, w) for w in omegas])  # decreasing with stiffness
    return float(np.interp(contact, times[::-1], omegas[::-1]))


def hop_sequence(fr: Frame, t0: float, flights: np.ndarray, omega: float,
                 landing_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Hops of the given flight times from t0 (standing): writes the trunk and the landings.

    Starts with a push-off from a crouch, ends standing. Returns (take-off times, landing times).
    """
    fr_rate = fr.rate
    speeds = G * np.asarray(flights) / 2
    t = t0
    takeoffs, landings = [], []
    for k, (flight, v) in enumerate(zip(flights, speeds, strict=True)):
        v_before = speeds[k - 1] if k else 0.0
        push = stance(v_before, v, omega * (1.0 if k else 0.7), fr_rate)
        i = fr.index(t)
        fr.trunk[i: i + len(push)] += push[: max(fr.n - i, 0)]
        t += len(push) / fr_rate
        takeoffs.append(t)
        i, j = fr.index(t), fr.index(t + flight)
        fr.trunk[i:j] -= G  # free fall: the accelerometer reads nothing
        t += flight
        landings.append(t)
    settle = stance(speeds[-1], 0.0, omega, fr_rate)
    i = fr.index(t)
    fr.trunk[i: i + len(settle)] += settle[: max(fr.n - i, 0)]
    landings_a = np.array(landings)
    add_landings(fr, landings_a, speeds * landing_scale)
    return np.array(takeoffs), landings_a


def add_landings(fr: Frame, times: np.ndarray, speeds: np.ndarray) -> None:
    """The ringing of each touch-down: the person's damped modes, scaled by touch-down speed."""
    p = fr.person
    length = int(0.4 * fr.rate)
    tau = np.arange(length) / fr.rate
    shape = np.zeros(length)
    for m in p.modes:
        w = 2 * np.pi * m.hz
        wd = w * np.sqrt(1 - m.damping**2)
        shape += m.share * np.exp(-m.damping * w * tau) * np.sin(wd * tau)
    shape /= max(float(np.max(np.abs(shape))), 1e-9)
    for t, v in zip(times, speeds, strict=True):
        i = fr.index(t)
        seg = shape[: max(min(length, fr.n - i), 0)]
        fr.landing[i: i + len(seg)] += p.landing_gain * v * fr.rng.uniform(0.8, 1.2) * seg


def arm_transmission(fr: Frame, x: np.ndarray) -> np.ndarray:
    """What reaches the wrist of a trunk acceleration `x`: a base-excited mass-spring (the arm)."""
    w = 2 * np.pi * fr.person.arm_hz
    z = fr.person.arm_damping
    signal = heavy.scipy_signal()
    b, a = signal.bilinear([2 * z * w, w**2], [1, 2 * z * w, w**2], fs=fr.rate)
    return signal.lfilter(b, a, x)


# --- the rope and the hand ---------------------------------------------------------------


def rope_phase(fr: Frame, t0: float, t1: float, anchor_t: np.ndarray, anchor_turns: np.ndarray) -> np.ndarray:
    """The rope's angle (rad, 0 under the feet) from t0 to t1, driven towards the anchors' phase.

    The wrist is a PD controller on the phase error; the rope has gravity (it speeds up
    falling through the bottom) and quadratic drag. Semi-implicit Euler on the fine grid.
    """
    p = fr.person
    sl, t = fr.times(t0, t1)
    target = 2 * np.pi * np.interp(t, anchor_t, anchor_turns)
    target_speed = np.gradient(target, 1.0 / fr.rate)
    wc = 2 * np.pi * p.control_hz
    kp, kd = wc**2, 2 * p.control_damping * wc
    dt = 1.0 / fr.rate
    angle, speed = float(target[0]), 0.0
    out = np.empty(len(t))
    for i in range(len(t)):
        acc = (kp * (target[i] - angle) + kd * (target_speed[i] - speed)
               - p.rope_gravity * np.sin(angle) - p.rope_drag * speed * abs(speed))
        speed += acc * dt
        angle += speed * dt
        out[i] = angle
    return out


def second_derivative(x: np.ndarray, rate: float) -> np.ndarray:
    return np.gradient(np.gradient(x, 1.0 / rate), 1.0 / rate)


def hand_on_rope(fr: Frame, t0: float, t1: float, angle: np.ndarray, spin: np.ndarray) -> None:
    """The hand drives the rope on a tilted ellipse, leading it; a handle swivels with the rope.

    `spin` (0..1) fades the circle in and out as the rope starts and stops.
    """
    p = fr.person
    sl, _ = fr.times(t0, t1)
    phi = angle + p.hand_lead
    speed = float(np.median(np.abs(np.gradient(angle, 1.0 / fr.rate))))
    hand = 1.6 if fr.mount == "handle" else 1.0  # a handle circles further than the forearm
    radius = min(hand * p.hand_radius_m, hand * p.hand_force_g * G / max(speed, 1.0) ** 2) * spin
    x = radius * np.cos(phi)
    z = radius * p.hand_aspect * np.sin(phi)
    ct, st = np.cos(p.hand_tilt), np.sin(p.hand_tilt)
    xw, zw = ct * x - st * z, st * x + ct * z
    yw = 0.2 * radius * np.sin(phi + 0.7)
    for axis, pos in enumerate((xw, yw, zw)):
        fr.limb[sl, axis] += second_derivative(pos, fr.rate)
    swivel = p.flex_rad * (1.8 if fr.mount == "handle" else 1.0) * spin * np.sin(phi + 0.4)
    fr.flex[sl] += swivel
    if fr.mount == "handle":  # the sensor sits on the swivelling handle, 7 cm beyond the grip
        lever = 0.07
        fr.limb[sl, 0] += lever * second_derivative(swivel, fr.rate)
        fr.limb[sl, 2] += lever * np.gradient(swivel, 1.0 / fr.rate) ** 2


def swing(fr: Frame, t0: float, t1: float, angle: np.ndarray, lever: float) -> None:
    """A limb swinging by `angle` (rad) on a `lever` (m): its rotation and the sensor's acceleration."""
    sl, _ = fr.times(t0, t1)
    fr.flex[sl] += angle
    fr.limb[sl, 0] += lever * second_derivative(angle, fr.rate)
    fr.limb[sl, 2] -= lever * np.gradient(angle, 1.0 / fr.rate) ** 2
