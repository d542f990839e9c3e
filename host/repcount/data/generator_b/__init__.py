"""Generator B: a second jump-rope signal model, built independently of `repcount simulate`'s.

It exists to *evaluate* counters, never to train a shipped model: a model that only
learnt generator A's way of drawing a jump fails here, as it would on real people. Its
physics and its parameterisation differ from A's throughout (docs/signal-model-b.md): a
spring-mass hopper instead of prescribed pushes, landings that ring in several damped
modes, an arm that filters what reaches the wrist, a rope with inertia, gravity and drag
driven by a feedback-controlled wrist, a sigma-delta-like IMU with drifting errors, and
its own distractors (running in place, jumping jacks, arm circles, walking, car, idle).

People are `simb-jr-u007` (activity code, user number): their own population, never
colliding with A's `sim-` or `simw-` users. Same arguments, same bytes.
"""

from __future__ import annotations

import numpy as np

from repcount.data.generator_b import activities
from repcount.data.generator_b.body import Frame
from repcount.data.generator_b.imu import read
from repcount.data.generator_b.people import person_b
from repcount.data.recordings import Event, Meta, Recording, Segment
from repcount.errors import UserError

ACTIVITIES = {"jump-rope": "jr", "distractors": "ds"}
MOUNTS = ("wrist", "handle", "pocket")
FINE_RATE = 800.0  # B's internal rate: the IMU's oversampling clock
DISTRACTORS = ("running-in-place", "walking", "jumping-jacks", "arm-circles", "car", "idle")
_WRITERS = {"running-in-place": activities.running_in_place, "walking": activities.walking,
            "jumping-jacks": activities.jumping_jacks, "arm-circles": activities.arm_circles,
            "car": activities.car, "idle": activities.idle}


def user_id(activity: str, user_index: int) -> str:
    return f"simb-{ACTIVITIES[activity]}-u{user_index:03d}"


def _check(activity: str, mount: str, rate: float, minutes: float) -> None:
    if activity not in ACTIVITIES:
        raise UserError(f"generator b makes no {activity!r} sessions; choose one of {', '.join(ACTIVITIES)}")
    if mount not in MOUNTS:
        raise UserError(f"generator b has no mount {mount!r}; choose one of {', '.join(MOUNTS)}")
    if not 10 <= rate <= 200:
        raise UserError(f"sample rate {rate} Hz is out of range for generator b; use 10 to 200 Hz")
    if not 0.25 <= minutes <= 600:
        raise UserError(f"--minutes {minutes} is out of range; use 0.25 to 600")


def _compose(fr: Frame, activity: str, total: float) -> None:
    """Jump-rope sessions: bouts, rests, now and then walking or arm circles; distractors: those only."""
    rng = fr.rng
    t = rng.uniform(3, 8)
    activities.idle(fr, 0.0, t)
    while total - t > 5.0:
        left = total - t
        if activity == "jump-rope" and fr.segments[-1][2] != "jump-rope" and left > 8.0:
            bout = min(fr.person.bout_s * rng.uniform(0.5, 1.5), left - 2.0)
            t = activities.jump_bout(fr, t, max(int(bout * 2.0), 4))
            continue
        if activity == "jump-rope":
            # Running in place and jumping jacks stay in distractor sessions, where false counts
            # are measured; here they would mix false counts into the jumpers' count errors.
            kind = str(rng.choice(["idle", "walking", "arm-circles"], p=[0.75, 0.125, 0.125]))
        else:
            last = fr.segments[-1][2]
            kind = str(rng.choice([d for d in DISTRACTORS if d != last]))
        d = min(rng.uniform(6, 30) if kind == "idle" else rng.uniform(15, 60), left)
        if d < 5.0:
            kind = "idle"
        _WRITERS[kind](fr, t, t + d)
        t += d
    if total - t > 0:
        activities.idle(fr, t, total)


def simulate_user(activity: str, mount: str, user_index: int, minutes: float, seed: int,
                  rate: float = 50.0, full_scale: float = 8.0) -> Recording:
    """One labelled recording of generator B's person `user_index` doing `activity`."""
    _check(activity, mount, rate, minutes)
    code = list(ACTIVITIES).index(activity)
    rng = np.random.default_rng([0xB, seed, user_index, code, MOUNTS.index(mount)])
    total = minutes * 60.0
    fr = Frame(FINE_RATE, int((total + 20.0) * FINE_RATE), mount, person_b(user_index), rng)
    _compose(fr, activity, total)
    t, acc = read(fr, rate, full_scale, total)
    meta = Meta(sample_rate_hz=rate, full_scale_g=full_scale, mount=mount, user=user_id(activity, user_index),
                board="simulated", device=f"simb-imu-{seed}-{user_index}",
                extra={"source": "repcount simulate --generator b", "generator": "b", "activity": activity,
                       "person": f"simb-u{user_index:03d}", "seed": str(seed)})
    end = float(t[-1])
    segments = [Segment(a, min(b, end), act) for a, b, act in sorted(fr.segments) if a < end - 0.1]
    events = [Event(et, kind) for et, kind in sorted(fr.events) if et < end]
    return Recording(meta, t, acc, None, segments, events)
