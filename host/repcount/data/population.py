"""Who the simulated people are: the per-person parameters of the simulator, in two populations.

`style(n)` is the default population, the one the shipped models were trained on: its
ranges and its draws are frozen (the models' cards regenerate their data from it, byte
for byte). `wide_style(n)` is the widened population (`repcount simulate --population
wide`): every range reaches far beyond the default one, so a model trained on it has seen
slow and very fast jumpers, soft and very hard landings, other resonances, other hand
circles and other gaits (docs/signal-model.md, "The widened population"). Both depend on
the user's number alone, never on the session seed, so user 7 stays one person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STYLE_SEED = 0x5EED  # the styles depend on the user index only, never on --seed
WIDE_SEED = 0x3A1DE  # another stream for the widened population: its user 7 is someone else
POPULATIONS = ("default", "wide")


@dataclass(frozen=True)
class Style:
    """What makes one simulated person move differently from another (drawn from the user index).

    The fields after `rhythm_jitter` default to the constants the default population has
    always used, so `style()` stays what it was; `wide_style()` draws them per person.
    """

    jump_rate_hz: float  # single unders per second (80..200 per minute)
    flight_fraction: float  # share of a single under's period spent in the air
    impact_g: float  # landing impact at the hips for a 0.3 s flight, in g
    impact_width_s: float  # rise time of a landing impact (shoes, surface, knee bend)
    wrist_radius_m: float  # radius of the circle the hands make to turn the rope
    wrist_coupling: float  # share of a landing impact that reaches the wrist
    wrist_flex_rad: float  # how far the wrist flexes with every rope turn
    double_skill: float  # how often this person starts a burst of double unders (0: never)
    miss_rate: float  # probability of catching the rope, per jump
    double_bounce: bool  # slow jumpers bounce once between rope passes (not a jump)
    bout_s: float  # typical length of a jumping bout
    walk_hz: float  # walking cadence, steps per second
    run_hz: float  # running cadence
    step_impact_g: float  # heel strike at the hips when walking
    arm_swing_rad: float  # amplitude of the arm swing when walking
    rhythm_jitter: float  # relative period-to-period variation of jumps and steps
    ring_hz: tuple[float, float] = (12.0, 22.0)  # landing resonance (shoe, floor, soft tissue), per bout
    ring_amp: float = 0.3  # its amplitude relative to the impact
    ring_damping: float | None = None  # damping ratio; None: the default's decay rate of ring_hz / 2
    impact_forward: float = 0.25  # forward share of a landing impact
    circle_aspect: float = 1.0  # vertical / forward radius of the hands' circle (1: a circle)
    circle_tilt_rad: float = 0.0  # tilt of that ellipse in the sagittal plane
    double_flight: tuple[float, float] = (1.6, 2.0)  # a double under's flight / a single's
    jump_posture_rad: tuple[float, float, float] = (-0.5, 0.2, 0.4)  # arm pitch low, high; roll +-
    gait_bounce_g: tuple[float, float] = (0.12, 0.3)  # walking body bounce
    run_flight: tuple[float, float] = (0.3, 0.45)  # share of a running step in the air
    run_impact: tuple[float, float] = (2.0, 3.2)  # running impact / walking impact
    step_ring_hz: tuple[float, float] = (8.0, 15.0)  # heel-strike resonance


def style(user_index: int) -> Style:
    """The style of simulated user `user_index`: the same person whatever the seed."""
    rng = np.random.default_rng([STYLE_SEED, user_index])
    rate = rng.uniform(80, 200) / 60
    return Style(
        jump_rate_hz=rate,
        flight_fraction=rng.uniform(0.42, 0.6),
        impact_g=rng.uniform(1.8, 4.0),
        impact_width_s=rng.uniform(0.008, 0.02),
        wrist_radius_m=rng.uniform(0.01, 0.035),
        wrist_coupling=rng.uniform(0.5, 0.9),
        wrist_flex_rad=rng.uniform(0.15, 0.45),
        double_skill=float(rng.choice([0.0, rng.uniform(0.03, 0.15)], p=[0.4, 0.6])),
        miss_rate=rng.uniform(0.004, 0.03),
        double_bounce=bool(rate < 1.85 and rng.random() < 0.6),
        bout_s=rng.uniform(15, 60),
        walk_hz=rng.uniform(1.6, 2.1),
        run_hz=rng.uniform(2.5, 3.1),
        step_impact_g=rng.uniform(0.4, 1.2),
        arm_swing_rad=rng.uniform(0.2, 0.6),
        rhythm_jitter=rng.uniform(0.01, 0.05),
    )


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A ratio drawn evenly on a log scale: x0.3 is as likely as x3."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def wide_style(user_index: int) -> Style:
    """A person of the widened population (the ranges of docs/signal-model.md's wide table)."""
    rng = np.random.default_rng([WIDE_SEED, user_index])
    rate = rng.uniform(60, 220) / 60
    ring_low = rng.uniform(6, 30)
    posture_low = rng.uniform(-1.2, 0.2)
    return Style(
        jump_rate_hz=rate,
        flight_fraction=rng.uniform(0.3, 0.72),
        impact_g=rng.uniform(1.8, 4.0) * _log_uniform(rng, 0.3, 3.0),
        impact_width_s=rng.uniform(0.004, 0.04),
        wrist_radius_m=rng.uniform(0.005, 0.08),
        wrist_coupling=rng.uniform(0.2, 1.2),
        wrist_flex_rad=rng.uniform(0.05, 0.8),
        double_skill=float(rng.choice([0.0, rng.uniform(0.02, 0.4)], p=[0.3, 0.7])),
        miss_rate=rng.uniform(0.002, 0.06),
        double_bounce=bool(rate < 1.85 and rng.random() < 0.6),
        bout_s=rng.uniform(8, 90),
        walk_hz=rng.uniform(1.2, 2.6),
        run_hz=rng.uniform(2.2, 3.8),
        step_impact_g=rng.uniform(0.4, 1.2) * _log_uniform(rng, 0.3, 3.0),
        arm_swing_rad=rng.uniform(0.03, 1.0),
        rhythm_jitter=rng.uniform(0.005, 0.08),
        ring_hz=(ring_low, ring_low * rng.uniform(1.1, 1.6)),
        ring_amp=rng.uniform(0.0, 0.8),
        ring_damping=rng.uniform(0.03, 0.4),
        impact_forward=rng.uniform(-0.2, 0.6),
        circle_aspect=_log_uniform(rng, 0.4, 2.5),
        circle_tilt_rad=rng.uniform(-0.8, 0.8),
        double_flight=(1.4, rng.uniform(1.6, 2.4)),
        jump_posture_rad=(posture_low, posture_low + rng.uniform(0.2, 1.0), rng.uniform(0.1, 1.2)),
        gait_bounce_g=(rng.uniform(0.05, 0.15), rng.uniform(0.2, 0.5)),
        run_flight=(rng.uniform(0.15, 0.3), rng.uniform(0.35, 0.55)),
        run_impact=(rng.uniform(1.3, 2.0), rng.uniform(2.2, 4.0)),
        step_ring_hz=(rng.uniform(5, 10), rng.uniform(11, 25)),
    )


def person(population: str, user_index: int) -> Style:
    """The style of user `user_index` in `population` (`default` or `wide`)."""
    return wide_style(user_index) if population == "wide" else style(user_index)
