"""Body motions of the simulator: what a wrist, a rope handle or a pocket feels, per activity.

Each generator writes one labelled segment into a `Track`, the motion of the limb that
carries the sensor on a fine uniform time grid (several times the IMU's rate, so short
impacts keep their shape until the simulated IMU filters and samples them). World frame:
x forward, y left, z up, accelerations in g *without* gravity; the limb's orientation is
a pitch (about y) and a roll (about x). `repcount.data.simulation` adds gravity, turns it into
a mounted, noisy, clipped, quantised IMU and writes the recording.

The physics is deliberately simple but has the features a counter must learn from
(docs/signal-model.md): a rope jump is a free fall (the whole body reads ~0 g) ended by a
landing impact, periodic with the rope the hands turn; a step is a heel strike without
free fall (walking) or with a short one (running, at another rhythm and arm motion);
the distractors have impacts or periodic swings too, but never both in that pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from repcount import heavy
from repcount.data.population import Style, style

__all__ = ["Style", "Track", "style"]  # the styles live in population; `motions.style` is their old home

G = 9.80665  # m/s^2 per g
ARM_MOUNTS = ("wrist", "handle", "hand")  # the sensor moves with the hand that turns the rope


@dataclass
class Track:
    """The sensor limb's motion on a fine grid, with the labels written so far."""

    rate: float
    n: int
    mount: str
    style: Style
    rng: np.random.Generator
    lin: np.ndarray = field(init=False)  # (n, 3) linear acceleration, g, world frame
    pitch: np.ndarray = field(init=False)  # fast limb rotation about y, rad
    roll: np.ndarray = field(init=False)  # fast limb rotation about x, rad
    posture_pitch: np.ndarray = field(init=False)  # slow posture (smoothed later), rad
    posture_roll: np.ndarray = field(init=False)
    segments: list[tuple[float, float, str]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lin = np.zeros((self.n, 3))
        self.pitch = np.zeros(self.n)
        self.roll = np.zeros(self.n)
        self.posture_pitch = np.zeros(self.n)
        self.posture_roll = np.zeros(self.n)

    @property
    def arm(self) -> bool:
        """True when the sensor moves with the hand (wrist band, rope handle, phone in the hand)."""
        return self.mount in ARM_MOUNTS

    def span(self, t0: float, t1: float) -> tuple[slice, np.ndarray]:
        """Grid slice of [t0, t1) and its times in seconds from t0."""
        i0, i1 = max(int(round(t0 * self.rate)), 0), min(int(round(t1 * self.rate)), self.n)
        return slice(i0, i1), (np.arange(i0, i1) / self.rate) - t0

    def posture(self, t0: float, t1: float, pitch: float, roll: float) -> None:
        sl, _ = self.span(t0, t1)
        self.posture_pitch[sl] = pitch
        self.posture_roll[sl] = roll

    def label(self, t0: float, t1: float, activity: str) -> None:
        self.segments.append((round(float(t0), 3), round(float(t1), 3), activity))

    def event(self, t: float, kind: str) -> None:
        self.events.append((round(float(t), 3), kind))


# --- signal building blocks (vectorised over events) -------------------------------------


def add_impacts(x: np.ndarray, rate: float, times: np.ndarray, amps: np.ndarray, width: float,
                ring_hz: float = 0.0, ring: float = 0.0, damping: float | None = None) -> None:
    """Add impact pulses (fast rise, exponential decay, optional soft-tissue ringing) to `x`.

    A pulse starts at its time, peaks `width` seconds later; `times` are absolute seconds.
    The ringing decays at ring_hz / 2 per second, or with the damping ratio `damping`.
    """
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if not len(times):
        return
    amps = np.broadcast_to(np.asarray(amps, dtype=np.float64), times.shape)
    decay = ring_hz / 2.0 if damping is None else damping * 2 * np.pi * ring_hz
    length = 7 * width + (3.0 / ring_hz * max(1.0, ring_hz / 2.0 / decay) if ring_hz else 0.0)
    k = np.arange(int(length * rate) + 2)
    idx = np.ceil(times * rate).astype(np.int64)[:, None] + k[None, :]
    tau = idx / rate - times[:, None]
    shape = (tau / width) * np.exp(1.0 - tau / width)
    if ring_hz:
        fade = np.exp(-tau * ring_hz / 2.0) if damping is None else np.exp(-tau * decay)
        shape += ring * fade * np.sin(2 * np.pi * ring_hz * tau)
    ok = (idx >= 0) & (idx < len(x))
    np.add.at(x, idx[ok], (amps[:, None] * shape)[ok])


def add_bumps(x: np.ndarray, rate: float, centers: np.ndarray, amps: np.ndarray, sigma: float) -> None:
    """Add smooth Gaussian bumps (pushes, lifts, sways) of standard deviation `sigma` seconds."""
    centers = np.atleast_1d(np.asarray(centers, dtype=np.float64))
    if not len(centers):
        return
    amps = np.broadcast_to(np.asarray(amps, dtype=np.float64), centers.shape)
    k = np.arange(-int(4 * sigma * rate) - 1, int(4 * sigma * rate) + 2)
    idx = np.round(centers * rate).astype(np.int64)[:, None] + k[None, :]
    shape = np.exp(-0.5 * ((idx / rate - centers[:, None]) / sigma) ** 2)
    ok = (idx >= 0) & (idx < len(x))
    np.add.at(x, idx[ok], (amps[:, None] * shape)[ok])


def second_derivative(x: np.ndarray, rate: float) -> np.ndarray:
    """Second time derivative of a track at `rate` Hz: an accelerometer measures this, not position."""
    return np.gradient(np.gradient(x, 1.0 / rate), 1.0 / rate)


def smooth_noise(rng: np.random.Generator, n: int, rate: float, corner_hz: float) -> np.ndarray:
    """Unit-variance noise low-passed below `corner_hz` (moving-average of white noise)."""
    w = max(1, int(rate / corner_hz))
    raw = rng.normal(0, 1, n + w)
    out = np.convolve(raw, np.ones(w) / np.sqrt(w), mode="valid")[:n]
    return out


def vertical_hops(tr: Track, takeoffs: np.ndarray, landings: np.ndarray, t_first: float,
                  t_last: float) -> None:
    """Free fall between each take-off and landing, push-offs and catches on the ground between.

    Over a hop cycle the vertical force averages 1 g, so each ground contact pushes with the
    momentum of half the flight before it plus half the flight after it (a half-sine push).
    Only the grid between `t_first` and `t_last` is touched, so a long session stays linear.
    """
    sl, tl = tr.span(t_first, t_last)
    t = tl + t_first
    flights = landings - takeoffs
    in_air = np.searchsorted(takeoffs, t, side="right") - 1
    flying = (in_air >= 0) & (t < landings[np.maximum(in_air, 0)])
    starts = np.concatenate([[t_first], landings])
    ends = np.concatenate([takeoffs, [t_last]])
    area = (np.concatenate([[0.0], flights]) + np.concatenate([flights, [0.0]])) / 2
    k = np.searchsorted(starts, t, side="right") - 1
    length = ends[k] - starts[k]
    u = np.clip((t - starts[k]) / np.maximum(length, 1e-6), 0.0, 1.0)
    push = np.where(flying | (length <= 0), 0.0, area[k] * np.pi / (2 * np.maximum(length, 1e-6)))
    tr.lin[sl, 2] += push * np.sin(np.pi * u) - flying


# --- jump rope ----------------------------------------------------------------------------


@dataclass
class _Hops:
    """A bout's timeline: every take-off and landing, the impacts, and the rope's passes."""

    takeoffs: list[float] = field(default_factory=list)
    landings: list[float] = field(default_factory=list)
    bounces: list[bool] = field(default_factory=list)  # True: an in-between hop, no rope pass
    anchors_t: list[float] = field(default_factory=list)  # times the rope has turned ...
    anchors_turns: list[float] = field(default_factory=list)  # ... this many times
    turns: float = 0.0  # rope turns after the last jump


def _jump_kinds(st: Style, rng: np.random.Generator, n_jumps: int) -> list[str]:
    """`jump` or `double-under` per jump: bursts of doubles start at random, never in the first 3."""
    kinds = []
    burst = 0
    for k in range(n_jumps):
        if burst == 0 and k >= 3 and rng.random() < st.double_skill:
            burst = int(rng.integers(2, 12))
        kinds.append("double-under" if burst > 0 else "jump")
        burst = max(burst - 1, 0)
    return kinds


def _jump_timeline(tr: Track, t0: float, n_jumps: int) -> tuple[_Hops, float, float, float]:
    """Take-offs, landings and rope passes of `n_jumps` jumps from t0 (labels the landings).

    Returns the timeline, the swing-over's start, the next rope pass and the bout's period.
    """
    st, rng = tr.style, tr.rng
    period = 1.0 / (st.jump_rate_hz * rng.uniform(0.94, 1.06))
    contact = period * (1 - st.flight_fraction)
    kinds = _jump_kinds(st, rng, n_jumps)
    double = np.array([k == "double-under" for k in kinds])
    jit = st.rhythm_jitter
    flight = period * st.flight_fraction * (1 + jit * rng.standard_normal(n_jumps))
    flight = np.where(double, period * st.flight_fraction * rng.uniform(*st.double_flight, n_jumps), flight)
    contacts = contact * (1 + jit * rng.standard_normal(n_jumps))

    swing = t0 + rng.uniform(0.3, 0.7)  # the hands start turning the rope from behind
    first_pass = swing + rng.uniform(0.45, 0.7)
    hops = _Hops(anchors_t=[swing, first_pass], anchors_turns=[-0.6, 0.0])
    turns, t_pass = 0.0, first_pass
    for k in range(n_jumps):
        f = flight[k]
        take = t_pass - (f / 4 if double[k] else f / 2)
        land = take + f
        if double[k]:
            hops.anchors_t.append(take + 3 * f / 4)
            hops.anchors_turns.append(turns + 1)
            turns += 2
        else:
            turns += 1
        hops.takeoffs.append(take)
        hops.landings.append(land)
        hops.bounces.append(False)
        tr.event(land, kinds[k])
        next_f = flight[k + 1] if k + 1 < n_jumps else period * st.flight_fraction
        next_double = k + 1 < n_jumps and double[k + 1]
        t_pass = land + contacts[k] + (next_f / 4 if next_double else next_f / 2)
        if k + 1 < n_jumps:
            hops.anchors_t.append(t_pass)
            hops.anchors_turns.append(turns)
        if st.double_bounce and k + 1 < n_jumps and contacts[k] > 0.25:
            hop = rng.uniform(0.05, 0.08)  # the in-between bounce: a tiny hop, no rope pass
            mid = land + contacts[k] / 2
            hops.takeoffs.append(mid - hop / 2)
            hops.landings.append(mid + hop / 2)
            hops.bounces.append(True)
    hops.turns = turns
    return hops, swing, t_pass, period


def jump_bout(tr: Track, t0: float, n_jumps: int, miss: bool) -> float:
    """A bout of rope jumping from t0: swing-over, `n_jumps` landings, then a miss or a stop.

    Returns the time the bout ends. Labels: segment `jump-rope`; events `jump` and
    `double-under` at each landing, `miss` where the rope catches the feet.
    """
    st, rng = tr.style, tr.rng
    hops, swing, t_pass, period = _jump_timeline(tr, t0, n_jumps)
    takeoffs, landings = hops.takeoffs, hops.landings
    anchors_t, anchors_turns, turns = hops.anchors_t, hops.anchors_turns, hops.turns
    last = landings[-1] if landings else anchors_t[1]
    impacts = np.array(landings)
    # Harder landings after longer flights; the in-between bounces land softly.
    rope_jump = ~np.array(hops.bounces, dtype=bool)
    amp = st.impact_g * np.where(rope_jump, np.clip((impacts - np.array(takeoffs)) / 0.3, 0.7, 2.0), 0.2)
    if miss:
        # The rope hits the feet at the next pass: a weak hop or a stumble, and the rope stops dead.
        anchors_t += [t_pass, t_pass + 0.06]
        anchors_turns += [turns, turns + 0.02]
        tr.event(t_pass, "miss")
        if rng.random() < 0.6:
            hop = rng.uniform(0.08, 0.16)
            takeoffs.append(t_pass - hop / 2)
            landings.append(t_pass + hop / 2)
        impacts = np.append(impacts, t_pass + rng.uniform(0.05, 0.25))
        amp = np.append(amp, st.impact_g * rng.uniform(0.15, 0.4))
        end = t_pass + rng.uniform(0.6, 1.0)
    else:
        anchors_t.append(last + rng.uniform(0.5, 0.8) * period + 0.3)
        anchors_turns.append(turns - 0.3)
        end = anchors_t[-1] + 0.3
    order = np.argsort(takeoffs)
    takeoffs_a, landings_a = np.array(takeoffs)[order], np.array(landings)[order]
    vertical_hops(tr, takeoffs_a, landings_a, takeoffs_a[0] - 0.25, landings_a[-1] + 0.25)
    coupling = {"wrist": st.wrist_coupling, "handle": st.wrist_coupling * 0.8,
                "hand": st.wrist_coupling * 0.9, "bag": 0.9}.get(tr.mount, 1.3)
    ring = rng.uniform(*st.ring_hz)
    add_impacts(tr.lin[:, 2], tr.rate, impacts, amp * coupling, st.impact_width_s, ring, st.ring_amp,
                st.ring_damping)
    add_impacts(tr.lin[:, 0], tr.rate, impacts, -st.impact_forward * amp * coupling, st.impact_width_s * 1.5)
    if tr.arm:
        _turn_rope(tr, np.array(anchors_t), np.array(anchors_turns), swing, end)
    else:
        sl, tl = tr.span(takeoffs_a[0] - 0.3, end)
        tr.pitch[sl] += 0.08 * np.sin(2 * np.pi * st.jump_rate_hz * tl)  # knees bend with the rhythm
    low, high, roll = st.jump_posture_rad
    tr.posture(t0, end, rng.uniform(low, high), rng.uniform(-roll, roll))
    tr.label(t0, end, "jump-rope")
    return end


def _turn_rope(tr: Track, anchors_t: np.ndarray, anchors_turns: np.ndarray, t0: float, t1: float) -> None:
    """The hands circle with the rope's phase; the wrist flexes and a handle swivels with it."""
    st, rng = tr.style, tr.rng
    order = np.argsort(anchors_t)
    at, turns = anchors_t[order], np.maximum.accumulate(anchors_turns[order])
    keep = np.concatenate([[True], np.diff(at) > 1e-3])
    phase_of = heavy.scipy_interpolate().PchipInterpolator(at[keep], turns[keep], extrapolate=False)
    sl, tl = tr.span(t0 - 0.5, t1 + 0.5)
    t = tl + (t0 - 0.5)
    turns_t = np.nan_to_num(phase_of(np.clip(t, at[0], at[-1])))
    phi = 2 * np.pi * turns_t
    omega2 = (2 * np.pi * st.jump_rate_hz) ** 2
    speed = np.gradient(turns_t, 1.0 / tr.rate) / st.jump_rate_hz  # 1: single unders, 2: doubles
    # Fast turners make small circles: the centripetal pull stays under about 0.6 g on the forearm
    # (2 g in a handle) for single unders; double unders are turned with the wrists (twice the
    # speed, half the circle).
    if tr.mount in ("handle", "hand"):  # the hand circles further than the forearm
        radius = min(st.wrist_radius_m * 2.0, 2.0 * G / omega2)
    else:
        radius = min(st.wrist_radius_m, 0.6 * G / omega2)
    radius = radius / np.maximum(speed, 1.0)
    x, z = radius * np.cos(phi), radius * np.sin(phi)
    if st.circle_aspect != 1.0 or st.circle_tilt_rad:  # an ellipse, tilted (the widened population)
        z = z * st.circle_aspect
        c, s = np.cos(st.circle_tilt_rad), np.sin(st.circle_tilt_rad)
        x, z = c * x - s * z, s * x + c * z
    tr.lin[sl, 0] += second_derivative(x - x[0], tr.rate) / G
    tr.lin[sl, 2] += second_derivative(z - z[0], tr.rate) / G
    flex = st.wrist_flex_rad * (2.2 if tr.mount == "handle" else 1.0)
    flex = min(flex, 1.0 * G / (0.08 * omega2)) if tr.mount == "handle" else flex
    lead = rng.uniform(0, 2 * np.pi)
    envelope = np.clip(speed, 0, 1.0) / np.maximum(speed, 1.0)  # smaller swivels when turning fast
    theta = flex * envelope * np.sin(phi + lead)
    tr.pitch[sl] += theta
    if tr.mount == "handle":
        lever = 0.08  # the sensor sits in the handle, a lever beyond the wrist
        tr.lin[sl, 0] += lever * second_derivative(theta, tr.rate) / G
        tr.lin[sl, 2] -= lever * np.gradient(theta, 1.0 / tr.rate) ** 2 / G


# --- steps -------------------------------------------------------------------------------


def gait(tr: Track, t0: float, t1: float, activity: str) -> None:
    """Walking, running or stairs from t0 to t1: heel strikes, body bounce, arm or thigh swing.

    Labels `step` at each heel strike for walking and running; stairs label `stair-step`
    (a foot landing that a step counter must not count).
    """
    st, rng = tr.style, tr.rng
    hz = {"walking": st.walk_hz, "running": st.run_hz, "stairs": st.walk_hz * 0.75}[activity]
    hz *= rng.uniform(0.92, 1.08)
    start = t0 + rng.uniform(0.3, 0.8)
    n = max(int((t1 - 0.4 - start) * hz), 2)
    periods = (1 + st.rhythm_jitter * rng.standard_normal(n)) / hz
    strikes = start + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    strikes = strikes[strikes < t1 - 0.3]
    sl, tl = tr.span(t0, t1)
    t = tl + t0
    stride_phase = np.interp(t, strikes, np.arange(len(strikes)), left=np.nan, right=np.nan)
    moving = ~np.isnan(stride_phase)
    ph = np.nan_to_num(stride_phase)
    ramp = np.clip(np.minimum(t - strikes[0], strikes[-1] - t) / 0.6, 0, 1)  # start and stop smoothly
    side = np.where(np.arange(len(strikes)) % 2 == 0, 1.0, rng.uniform(0.5, 0.8))
    if activity == "running":
        flight = np.diff(strikes) * rng.uniform(*st.run_flight)
        vertical_hops(tr, strikes[1:] - flight, strikes[1:], strikes[0] - 0.15, strikes[-1] + 0.15)
        impact = st.step_impact_g * rng.uniform(*st.run_impact)
        swing_amp, lever = st.arm_swing_rad * 1.4, 0.35
    else:
        bounce = rng.uniform(*st.gait_bounce_g) * (1.4 if activity == "stairs" else 1.0)
        tr.lin[sl, 2] += np.where(moving, bounce * np.cos(2 * np.pi * ph), 0) * ramp
        impact = st.step_impact_g * (rng.uniform(0.4, 1.6) if activity == "stairs" else 1.0)
        swing_amp, lever = st.arm_swing_rad, 0.6
    tr.lin[sl, 0] += np.where(moving, 0.1 * np.sin(2 * np.pi * ph), 0) * ramp
    tr.lin[sl, 1] += np.where(moving, 0.06 * np.sin(np.pi * ph), 0) * ramp
    # A phone held in the hand or carried in a bag is cushioned by the arm or the strap.
    coupling = {"hand": 0.6, "bag": 0.8}.get(tr.mount, 0.45 if tr.arm else 1.2)
    width = 0.035 if tr.mount == "bag" else 0.02
    amps = impact * coupling * side[: len(strikes)] * rng.uniform(0.8, 1.2, len(strikes))
    add_impacts(tr.lin[:, 2], tr.rate, strikes, amps, width, rng.uniform(*st.step_ring_hz), 0.3,
                st.ring_damping)
    add_impacts(tr.lin[:, 0], tr.rate, strikes, -0.4 * amps, width * 1.5)
    swing_amp, lever = _carried_swing(tr, swing_amp, lever)
    theta = swing_amp * np.sin(np.pi * ph + rng.uniform(0, 2 * np.pi)) * ramp * moving
    tr.pitch[sl] += theta
    tr.lin[sl, 0] += lever * second_derivative(theta, tr.rate) / G
    tr.lin[sl, 2] -= lever * np.gradient(theta, 1.0 / tr.rate) ** 2 / G
    tr.posture(t0, t1, rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    kind = "stair-step" if activity == "stairs" else "step"
    for s in strikes:
        tr.event(s, kind)
    tr.label(t0, t1, activity)


def _carried_swing(tr: Track, swing_amp: float, lever: float) -> tuple[float, float]:
    """How far and on what lever the sensor swings per stride, by where it is carried.

    A wrist or a handle swings with the arm (the given swing); a pocket with the thigh; a
    phone held in front of the body barely swings; a bag swings from its strap.
    """
    if tr.mount == "pocket":
        return tr.rng.uniform(0.3, 0.6), 0.3  # the thigh swings with the pocket
    if tr.mount == "hand":
        return swing_amp * tr.rng.uniform(0.05, 0.3), 0.3
    if tr.mount == "bag":
        return tr.rng.uniform(0.1, 0.4), 0.25
    return swing_amp, lever


# --- distractors ---------------------------------------------------------------------------


def still(tr: Track, t0: float, t1: float, activity: str) -> None:
    """Standing, sitting or resting between bouts: sway, breathing and the odd fidget."""
    rng = tr.rng
    sl, tl = tr.span(t0, t1)
    n = len(tl)
    sway = 0.01 if activity != "sitting" else 0.004
    tr.lin[sl] += sway * np.stack([smooth_noise(rng, n, tr.rate, 1.5) for _ in range(3)], axis=1)
    if activity == "rest":
        tr.lin[sl, 2] += rng.uniform(0.01, 0.03) * np.sin(2 * np.pi * rng.uniform(0.3, 0.6) * tl)
    fidgets = t0 + np.sort(rng.uniform(0, t1 - t0, rng.poisson((t1 - t0) / 6)))
    scale = 0.15 if tr.arm else 0.05
    for axis in range(3):
        add_bumps(tr.lin[:, axis], tr.rate, fidgets, scale * rng.normal(0, 1, len(fidgets)), 0.12)
    pitch = rng.uniform(0.6, 1.3) if activity == "sitting" else rng.uniform(-0.3, 0.3)
    tr.posture(t0, t1, pitch, rng.uniform(-0.5, 0.5))
    tr.label(t0, t1, activity)


def gestures(tr: Track, t0: float, t1: float) -> None:
    """Arm gestures: waves, sharp swings, claps, arm or rope circles, shakes (none is a jump)."""
    rng = tr.rng
    scale = 1.0 if tr.arm else 0.2
    t = t0 + rng.uniform(0.2, 0.8)
    while t < t1 - 1.0:
        kind = rng.choice(["wave", "swing", "clap", "circles", "shake"])
        dur = min(rng.uniform(1.0, 4.0), t1 - 0.3 - t)
        sl, tl = tr.span(t, t + dur)
        env = np.sin(np.pi * tl / dur) ** 2
        if kind == "wave":
            theta = rng.uniform(0.4, 0.9) * env * np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * tl)
            tr.roll[sl] += theta * scale
            tr.lin[sl, 1] += scale * 0.35 * second_derivative(theta, tr.rate) / G
        elif kind == "swing":
            centers = t + np.sort(rng.uniform(0.2, dur - 0.2, rng.integers(1, 4)))
            amps = rng.uniform(1.0, 4.0, len(centers)) * rng.choice([-1, 1], len(centers))
            add_bumps(tr.lin[:, 0], tr.rate, centers, scale * amps, rng.uniform(0.03, 0.06))
            add_bumps(tr.lin[:, 0], tr.rate, centers + 0.12, -scale * amps * 0.8, 0.05)
            add_bumps(tr.pitch, tr.rate, centers, rng.uniform(0.5, 1.2, len(centers)) * scale, 0.15)
        elif kind == "clap":
            claps = t + np.arange(0.2, dur - 0.1, 1 / rng.uniform(1.5, 3.5))
            add_impacts(tr.lin[:, 1], tr.rate, claps, scale * rng.uniform(1.5, 4.0), 0.006, 25.0, 0.4)
            add_bumps(tr.lin[:, 1], tr.rate, claps - 0.1, -scale * 0.8, 0.05)
        elif kind == "circles":
            r = rng.uniform(0.05, 0.35)
            phi = 2 * np.pi * rng.uniform(0.8, 2.5) * tl
            tr.lin[sl, 0] += scale * env * second_derivative(r * np.cos(phi), tr.rate) / G
            tr.lin[sl, 2] += scale * env * second_derivative(r * np.sin(phi), tr.rate) / G
            tr.pitch[sl] += scale * env * 0.4 * np.sin(phi)
        else:
            hz = rng.uniform(4, 7)
            tr.lin[sl, 1] += scale * rng.uniform(0.5, 2.0) * env * np.sin(2 * np.pi * hz * tl)
        t += dur + rng.uniform(0.3, 1.5)
    tr.posture(t0, t1, rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6))
    tr.label(t0, t1, "gestures")


def pickup(tr: Track, t0: float, t1: float) -> None:
    """The device lies on a table, is picked up, handled, and put down with a knock."""
    rng = tr.rng
    t = t0
    table = (rng.choice([0.0, np.pi]) + rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05))
    while t < t1 - 2.5:
        rest = min(rng.uniform(0.8, 3.0), t1 - t - 1.8)
        tr.posture(t, t + rest, *table)
        up = t + rest
        held = min(rng.uniform(1.0, 4.0), t1 - up - 0.8)
        add_bumps(tr.lin[:, 2], tr.rate, [up + 0.15, up + 0.45], [0.4, -0.3], 0.08)
        sl, tl = tr.span(up + 0.3, up + held)
        tr.lin[sl] += 0.02 * np.stack([smooth_noise(rng, len(tl), tr.rate, 8) for _ in range(3)], axis=1)
        tr.posture(up + 0.3, up + held, rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2))
        down = up + held
        add_bumps(tr.lin[:, 2], tr.rate, [down - 0.35], [-0.3], 0.08)
        knock = rng.uniform(0.8, 4.0) * (0.5 if tr.mount == "wrist" else 1.0)
        add_impacts(tr.lin[:, 2], tr.rate, [down], [knock], 0.005, rng.uniform(20, 40), 0.5)
        t = down + 0.05
    tr.posture(t, t1, *table)
    tr.label(t0, t1, "pickup")


def car(tr: Track, t0: float, t1: float) -> None:
    """A car ride: engine and road vibration, pot-holes, speeding up, braking, turning."""
    rng = tr.rng
    sl, tl = tr.span(t0, t1)
    n = len(tl)
    engine = rng.uniform(20, 45)
    tr.lin[sl, 2] += rng.uniform(0.01, 0.05) * np.sin(2 * np.pi * engine * tl + rng.uniform(0, 6))
    tr.lin[sl, 2] += rng.uniform(0.02, 0.08) * smooth_noise(rng, n, tr.rate, 8)
    tr.lin[sl, 0] += 0.15 * smooth_noise(rng, n, tr.rate, 0.1)
    tr.lin[sl, 1] += 0.15 * smooth_noise(rng, n, tr.rate, 0.08)
    holes = t0 + rng.uniform(0, t1 - t0, rng.poisson((t1 - t0) / 8))
    add_impacts(tr.lin[:, 2], tr.rate, holes, rng.uniform(0.2, 1.0, len(holes)), 0.03, 3.0, 0.5)
    tr.posture(t0, t1, rng.uniform(0.5, 1.2), rng.uniform(-0.3, 0.3))
    tr.label(t0, t1, "car")


def elevator(tr: Track, t0: float, t1: float) -> None:
    """Standing in an elevator: a step in, a smooth speed-up, the ride, a slow-down, a step out."""
    rng = tr.rng
    d = t1 - t0
    a = rng.uniform(0.06, 0.15) * rng.choice([-1, 1])
    add_bumps(tr.lin[:, 2], tr.rate, [t0 + 0.25 * d, t0 + 0.75 * d], [a, -a], rng.uniform(0.4, 0.8))
    sl, tl = tr.span(t0, t1)
    tr.lin[sl, 2] += 0.01 * smooth_noise(rng, len(tl), tr.rate, 10)
    add_impacts(tr.lin[:, 2], tr.rate, [t0 + 0.3, t1 - 0.5], tr.style.step_impact_g * 0.5, 0.02)
    tr.posture(t0, t1, rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    tr.label(t0, t1, "elevator")
