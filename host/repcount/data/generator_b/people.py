"""Generator B's people: the body, the rope technique and the arm, in B's own parameterisation.

Generator A draws a jump rate and a flight share and builds forces around them; B draws
a body instead (leg stiffness, hop height, how landings ring in the shoe, shank and arm,
how the wrist drives the rope) and lets the cadence follow from the physics. Ranges are
B's own guesses, chosen without looking at A's (docs/signal-model-b.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PEOPLE_SEED = 0xB0B  # B's people come from their own stream: simb-u007 is nobody in A


@dataclass(frozen=True)
class Mode:
    """One damped mode of the landing transient: frequency, damping ratio, share of the peak."""

    hz: float
    damping: float
    share: float


@dataclass(frozen=True)
class PersonB:
    """One person of generator B (drawn from the user's number alone)."""

    leg_hz: float  # natural frequency of the leg spring in stance (sets the contact time)
    hop_m: float  # typical hop height of a single under, metres
    hop_spread: float  # log-normal spread of hop heights, jump to jump
    landing_gain: float  # landing transient peak per m/s of touch-down speed, (m/s^2)/(m/s)
    modes: tuple[Mode, ...]  # shoe/floor, shank and soft tissue modes of a landing
    arm_hz: float  # the arm's transmission resonance (shoulder to wrist)
    arm_damping: float
    arm_direct: float  # share of the high-frequency landing transient reaching the wrist directly
    rebound: float  # probability of a small rebound hop between rope passes (slow jumpers)
    double_skill: float  # probability per jump of starting a burst of double unders
    miss_rate: float  # probability per jump that the rope hits the feet
    hand_radius_m: float  # radius of the hand's path that drives the rope
    hand_force_g: float  # the most centripetal pull the forearm keeps up (fast turners turn smaller)
    hand_aspect: float  # vertical / forward axis of that path
    hand_tilt: float  # tilt of the path in the sagittal plane, rad
    hand_lead: float  # phase by which the hand leads the rope, rad
    rope_gravity: float  # gravity torque on the rope / its inertia, rad/s^2 (uneven turning)
    rope_drag: float  # aerodynamic drag of the rope, per rad
    control_hz: float  # bandwidth of the wrist's rope control loop
    control_damping: float
    flex_rad: float  # how far the wrist (or the handle) rotates with each turn
    flex_axis: tuple[float, float, float]  # the axis the forearm rotates about (sensor frame)
    pass_offset: float  # where in the flight the rope passes, as a share (0.5: mid-flight)
    bout_s: float  # typical bout length
    walk_hz: float  # walking step frequency
    run_in_place_hz: float  # steps per second running in place
    jack_hz: float  # jumping-jack cycles per second


def person_b(user_index: int) -> PersonB:
    """Person `user_index` of generator B: the same whatever the session seed."""
    rng = np.random.default_rng([PEOPLE_SEED, user_index])
    axis = rng.normal(size=3) * np.array([0.3, 1.0, 0.3])
    axis = axis / np.linalg.norm(axis)
    return PersonB(
        leg_hz=rng.uniform(2.0, 4.8),
        hop_m=float(np.exp(rng.uniform(np.log(0.012), np.log(0.10)))),
        hop_spread=rng.uniform(0.03, 0.15),
        landing_gain=rng.uniform(12, 55),
        modes=(Mode(rng.uniform(25, 60), rng.uniform(0.15, 0.45), rng.uniform(0.3, 0.6)),
               Mode(rng.uniform(9, 18), rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.5)),
               Mode(rng.uniform(4, 8), rng.uniform(0.2, 0.4), rng.uniform(0.1, 0.3))),
        arm_hz=rng.uniform(6.0, 14.0),
        arm_damping=rng.uniform(0.3, 0.7),
        arm_direct=rng.uniform(0.15, 0.6),
        rebound=float(rng.choice([0.0, rng.uniform(0.3, 0.9)], p=[0.7, 0.3])),
        double_skill=float(rng.choice([0.0, rng.uniform(0.02, 0.2)], p=[0.5, 0.5])),
        miss_rate=rng.uniform(0.002, 0.04),
        hand_radius_m=rng.uniform(0.01, 0.06),
        hand_force_g=rng.uniform(0.6, 2.2),
        hand_aspect=float(np.exp(rng.uniform(np.log(0.6), np.log(1.6)))),
        hand_tilt=rng.uniform(-0.6, 0.6),
        hand_lead=rng.uniform(0.2, 1.4),
        rope_gravity=rng.uniform(3, 14),
        rope_drag=rng.uniform(0.0, 0.02),
        control_hz=rng.uniform(1.5, 4.5),
        control_damping=rng.uniform(0.5, 1.1),
        flex_rad=rng.uniform(0.1, 0.7),
        flex_axis=(float(axis[0]), float(axis[1]), float(axis[2])),
        pass_offset=rng.uniform(0.4, 0.6),
        bout_s=rng.uniform(12, 75),
        walk_hz=rng.uniform(1.4, 2.3),
        run_in_place_hz=rng.uniform(2.3, 3.5),
        jack_hz=rng.uniform(0.8, 1.4),
    )
