"""Generator B's activities: rope bouts and the distractors that fool counters.

Each function writes one labelled segment into a `Frame`. The distractors are chosen for
what a jump counter can mistake: running in place (hops with free fall and landings at a
jump-like cadence, but no rope), jumping jacks (real jumps, arms overhead), arm circles
(rope-like hand circles without jumps), walking, a car ride and standing idle.
"""

from __future__ import annotations

import numpy as np

from repcount.data.generator_b.body import (
    Frame,
    G,
    add_landings,
    contact_time,
    hand_on_rope,
    hop_sequence,
    rope_phase,
    second_derivative,
    stiffness_for,
    swing,
)


def _bout_flights(fr: Frame, n_jumps: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Flight times of a bout: rope jumps (single or double) and the rebound hops between them.

    Returns (flights, kind of each flight: `jump`, `double-under` or `rebound`, rope turns
    per flight).
    """
    p, rng = fr.person, fr.rng
    flights, kinds, turns = [], [], []
    burst = 0
    base = np.sqrt(8 * p.hop_m / G) * rng.uniform(0.93, 1.07)  # flight of a hop of height h
    for k in range(n_jumps):
        if burst == 0 and k >= 4 and rng.random() < p.double_skill:
            burst = int(rng.integers(2, 10))
        double = burst > 0
        burst = max(burst - 1, 0)
        f = base * np.exp(p.hop_spread * rng.standard_normal())
        if double:
            f = max(f * rng.uniform(1.6, 2.1), 0.36)  # the rope must pass twice
        flights.append(f)
        kinds.append("double-under" if double else "jump")
        turns.append(2.0 if double else 1.0)
        if not double and k + 1 < n_jumps and rng.random() < p.rebound:
            flights.append(base * rng.uniform(0.25, 0.45))
            kinds.append("rebound")
            turns.append(0.0)
    return np.array(flights), kinds, np.array(turns)


def jump_bout(fr: Frame, t0: float, n_jumps: int) -> float:
    """A rope bout from t0: the rope swings over, the jumps, a stop or a miss. Returns its end.

    Labels: segment `jump-rope`; `jump` or `double-under` at each counted touch-down,
    `miss` where the rope hits the feet (the bout then ends with a stumble).
    """
    p, rng = fr.person, fr.rng
    omega = 2 * np.pi * p.leg_hz * rng.uniform(0.92, 1.08)
    flights, kinds, turns = _bout_flights(fr, n_jumps)
    missed = rng.random(len(flights)) < p.miss_rate
    missed[: min(3, len(missed))] = False
    miss_at = int(np.argmax(missed)) if missed.any() else None
    if miss_at is not None:
        flights, kinds, turns = flights[:miss_at], kinds[:miss_at], turns[:miss_at]
    swing_start = t0 + rng.uniform(0.4, 0.9)
    first_take = swing_start + rng.uniform(0.5, 0.8)
    takeoffs, landings = hop_sequence(fr, first_take - contact_time(0.0, G * flights[0] / 2, 0.7 * omega),
                                      flights, omega)
    counted = [i for i, k in enumerate(kinds) if k != "rebound"]
    for i in counted:
        fr.event(landings[i], kinds[i])
    # The rope passes under the feet during each counted flight (twice in a double under).
    passes_t = [swing_start]
    passes_turns = [-0.5]
    done = 0.0
    for i in counted:
        share = p.pass_offset if turns[i] == 1 else 0.3
        for r in range(int(turns[i])):
            passes_t.append(takeoffs[i] + (share + 0.42 * r) * (landings[i] - takeoffs[i]))
            done += 1
            passes_turns.append(done - 1)
    end_rope = landings[-1] + rng.uniform(0.3, 0.6)
    if miss_at is not None:
        stop = takeoffs[-1] + (landings[-1] - takeoffs[-1]) + contact_time(1.0, 1.0, omega) + 0.1
        fr.event(stop, "miss")
        passes_t.append(stop)
        passes_turns.append(done - 0.05)  # caught at the feet: it stops dead
        hop_sequence(fr, stop + 0.02, np.array([rng.uniform(0.05, 0.12)]), omega, landing_scale=0.5)
        end_rope = stop + 0.1
    else:
        passes_t.append(end_rope)
        passes_turns.append(done - 0.3)
    end = max(end_rope, landings[-1]) + rng.uniform(0.5, 1.0)
    anchors_t, anchors_turns = np.array(passes_t), np.array(passes_turns)
    angle = rope_phase(fr, swing_start - 0.3, end, anchors_t, anchors_turns)
    _, t = fr.times(swing_start - 0.3, end)
    spin = np.clip(np.minimum(t - swing_start, end_rope + 0.3 - t) / 0.4, 0.0, 1.0)
    if fr.mount == "pocket":
        swing(fr, swing_start - 0.3, end, 0.1 * spin * np.sin(angle), 0.25)  # the thigh bends with each hop
    else:
        hand_on_rope(fr, swing_start - 0.3, end, angle, spin)
    fr.hold_posture(t0, end, rng.uniform(-0.7, 0.3), rng.uniform(-0.5, 0.5))
    fr.label(t0, end, "jump-rope")
    return end


def running_in_place(fr: Frame, t0: float, t1: float) -> None:
    """Running on the spot at a jump-like cadence: short hops, hard landings, pumping arms, no rope."""
    p, rng = fr.person, fr.rng
    hz = p.run_in_place_hz * rng.uniform(0.9, 1.1)
    n = max(int((t1 - t0 - 1.5) * hz), 3)
    air = rng.uniform(0.2, 0.4) / hz  # a short flight between alternating feet
    omega = stiffness_for(G * air / 2, 1 / hz - air)
    flights = air * np.exp(0.08 * rng.standard_normal(n))
    start = t0 + rng.uniform(0.3, 0.6)
    takeoffs, landings = hop_sequence(fr, start, flights, omega, landing_scale=rng.uniform(0.8, 1.6))
    end = min(landings[-1] + 0.6, t1)
    _, t = fr.times(start, end)
    ramp = np.clip(np.minimum(t - start, end - t) / 0.5, 0, 1)
    if fr.mount == "pocket":  # the thigh lifts with each knee
        pump, lever = rng.uniform(0.25, 0.5), 0.2
    else:  # the bent arm pumps
        pump, lever = rng.uniform(0.3, 0.7), 0.25
    swing(fr, start, end, pump * ramp * np.sin(np.pi * hz * (t - start) + rng.uniform(0, 6.3)), lever)
    fr.hold_posture(t0, t1, rng.uniform(-0.9, 0.1), rng.uniform(-0.5, 0.5))
    fr.label(t0, t1, "running-in-place")


def jumping_jacks(fr: Frame, t0: float, t1: float) -> None:
    """Jumping jacks: two hops per cycle (feet apart, together), the arms from the sides to overhead."""
    p, rng = fr.person, fr.rng
    hz = p.jack_hz * rng.uniform(0.9, 1.1)
    n = max(int((t1 - t0 - 2.0) * hz * 2), 2)
    air = rng.uniform(0.3, 0.5) / (2 * hz)  # two hops a cycle: feet apart, feet together
    omega = stiffness_for(G * air / 2, 1 / (2 * hz) - air)
    start = t0 + rng.uniform(0.3, 0.8)
    takeoffs, landings = hop_sequence(fr, start, air * np.exp(0.06 * rng.standard_normal(n)), omega)
    end = min(landings[-1] + 0.7, t1)
    _, t = fr.times(start, end)
    ramp = np.clip(np.minimum(t - start, end - t) / 0.4, 0, 1)
    raise_arms = rng.uniform(2.2, 3.0) * ramp * (1 - np.cos(2 * np.pi * hz * (t - start))) / 2
    swing(fr, start, end, raise_arms if fr.mount != "pocket" else 0.15 * raise_arms, 0.6)
    fr.hold_posture(t0, t1, rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
    fr.label(t0, t1, "jumping-jacks")


def arm_circles(fr: Frame, t0: float, t1: float) -> None:
    """Arm circles: large and slow, or small and quick like turning a rope, without any jump."""
    p, rng = fr.person, fr.rng
    small = rng.random() < 0.5
    radius = rng.uniform(0.04, 0.15) if small else rng.uniform(0.2, 0.6)
    hz = rng.uniform(1.5, 3.2) if small else rng.uniform(0.6, 1.6)
    sl, t = fr.times(t0, t1)
    env = np.clip(np.minimum(t - t0, t1 - t) / 0.6, 0, 1)
    phi = 2 * np.pi * hz * (t - t0) * rng.choice([-1, 1])
    scale = 0.1 if fr.mount == "pocket" else 1.0
    fr.limb[sl, 0] += scale * second_derivative(env * radius * np.cos(phi), fr.rate)
    fr.limb[sl, 2] += scale * second_derivative(env * radius * np.sin(phi), fr.rate)
    fr.flex[sl] += scale * env * (p.flex_rad if small else 1.2) * np.sin(phi)
    fr.hold_posture(t0, t1, rng.uniform(-1.5, 0.5), rng.uniform(-1.0, 1.0))
    fr.label(t0, t1, "arm-circles")


def walking(fr: Frame, t0: float, t1: float) -> None:
    """Walking: the trunk rises and falls over each stance leg, heels strike, the arm swings."""
    p, rng = fr.person, fr.rng
    hz = p.walk_hz * rng.uniform(0.92, 1.08)
    sl, t = fr.times(t0, t1)
    env = np.clip(np.minimum(t - t0, t1 - t) / 0.8, 0, 1)
    phase = 2 * np.pi * hz * (t - t0)
    fr.trunk[sl] += env * rng.uniform(1.0, 3.5) * np.cos(phase)
    strikes = np.arange(t0 + 0.8, t1 - 0.8, 1 / hz)
    strikes = strikes + rng.normal(0, 0.01, len(strikes))
    add_landings(fr, strikes, np.full(len(strikes), rng.uniform(0.1, 0.35)))
    for s in strikes:
        fr.event(s, "step")
    amp, lever = (rng.uniform(0.3, 0.6), 0.3) if fr.mount == "pocket" else (rng.uniform(0.15, 0.6), 0.6)
    swing(fr, t0, t1, env * amp * np.sin(phase / 2 + rng.uniform(0, 6.3)), lever)
    fr.hold_posture(t0, t1, rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4))
    fr.label(t0, t1, "walking")


def car(fr: Frame, t0: float, t1: float) -> None:
    """A car: suspension bounce, road roughness, engine harmonics, speed bumps and turns."""
    rng = fr.rng
    sl, t = fr.times(t0, t1)
    n = len(t)
    rough = np.cumsum(rng.normal(0, 1, n))
    rough = rough - np.convolve(rough, np.ones(400) / 400, mode="same")
    fr.trunk[sl] += rng.uniform(0.05, 0.3) * rough / max(float(np.std(rough)), 1e-9)
    bounce_hz = rng.uniform(1.0, 1.8)
    fr.trunk[sl] += rng.uniform(0.1, 0.6) * np.sin(2 * np.pi * bounce_hz * t) * np.sin(0.1 * t) ** 2
    engine = rng.uniform(25, 60)
    fr.limb[sl, 2] += rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * engine * t)
    turns = t0 + np.sort(rng.uniform(0, t1 - t0, max(1, int((t1 - t0) / 15))))
    for c in turns:
        fr.limb[sl, 1] += rng.uniform(-3, 3) * np.exp(-0.5 * ((t - c) / rng.uniform(1.5, 4)) ** 2)
    for b in t0 + rng.uniform(0, t1 - t0, rng.poisson((t1 - t0) / 20)):
        add_landings(fr, np.array([b, b + rng.uniform(0.6, 1.2)]), np.full(2, rng.uniform(0.1, 0.3)))
    fr.hold_posture(t0, t1, rng.uniform(0.3, 1.3), rng.uniform(-0.4, 0.4))
    fr.label(t0, t1, "car")


def idle(fr: Frame, t0: float, t1: float) -> None:
    """Standing or sitting still: breathing, a slowly wandering posture, the odd shift of weight."""
    rng = fr.rng
    sl, t = fr.times(t0, t1)
    fr.trunk[sl] += rng.uniform(0.02, 0.1) * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t)
    wander = np.cumsum(rng.normal(0, 1, len(t))) / np.sqrt(fr.rate)
    fr.flex[sl] += rng.uniform(0.005, 0.03) * (wander - wander.mean())
    for c in t0 + rng.uniform(0, t1 - t0, rng.poisson((t1 - t0) / 10)):
        w = rng.uniform(0.15, 0.4)
        fr.limb[sl, int(rng.integers(0, 3))] += rng.uniform(-2, 2) * np.exp(-0.5 * ((t - c) / w) ** 2)
    fr.hold_posture(t0, t1, rng.uniform(-0.6, 1.2), rng.uniform(-0.6, 0.6))
    fr.label(t0, t1, "idle")
