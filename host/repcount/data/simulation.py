"""Simulator A: labelled IMU recordings of jump rope, walking, running and distractors.

A physics-inspired signal model (docs/signal-model.md): each user's style is drawn from
the user's number alone (repcount.data.population), the session from --seed; the limb
motion comes from repcount.data.motions and the IMU model (mounting, filter, clock,
errors, 16-bit quantisation and clipping) is here. Same arguments, same bytes.

The `repcount simulate` command (repcount.commands.simulate) writes datasets of it;
generator B (repcount.data.generator_b) is the independent model used only to evaluate.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from repcount import heavy
from repcount.data import generator_b, motions
from repcount.data.population import POPULATIONS, person
from repcount.data.recordings import Event, Meta, Recording, Segment, save
from repcount.errors import UserError
from repcount.learn.quant import raw_from_g
from repcount.plots import plot_recording

ACTIVITIES = {"jump-rope": "jr", "walking": "wk", "running": "rn", "distractors": "ds", "mixed": "mx"}
ACTIVITY_CODES = {name: i for i, name in enumerate(ACTIVITIES)}
MOUNTS = ("wrist", "handle", "pocket", "hand", "bag")  # hand: a phone held; bag: a shoulder bag
FULL_SCALES = (2, 4, 8, 16)
GENERATORS = ("a", "b")  # a: this module's simulator; b: generator_b, for held-out evaluation only
DISTRACTORS = ("standing", "sitting", "gestures", "stairs", "car", "elevator", "pickup")


def user_id(activity: str, user_index: int, population: str = "default") -> str:
    """The user name of a simulated user: stable across seeds, so the same index is the same person.

    The widened population's people are others (`simw-jr-u007`), so their names never collide.
    """
    prefix = "simw" if population == "wide" else "sim"
    return f"{prefix}-{ACTIVITIES[activity]}-u{user_index:03d}"


def simulate_user(activity: str, mount: str, user_index: int, minutes: float, seed: int,
                  rate: float = 50.0, full_scale: float = 8.0, population: str = "default") -> Recording:
    """One labelled recording of simulated user `user_index` of `population` doing `activity`."""
    if population not in POPULATIONS:
        raise UserError(f"unknown population {population!r}; choose one of {', '.join(POPULATIONS)}")
    if activity not in ACTIVITIES:
        raise UserError(f"unknown activity {activity!r}; choose one of {', '.join(ACTIVITIES)}")
    if mount not in MOUNTS:
        raise UserError(f"unknown mount {mount!r}; choose one of {', '.join(MOUNTS)}")
    if full_scale not in FULL_SCALES:
        raise UserError(f"full scale {full_scale} g is not one an IMU offers; use one of 2, 4, 8, 16")
    if not 10 <= rate <= 1000:
        raise UserError(f"sample rate {rate} Hz is out of range; use 10 to 1000 Hz (the tasks use 50)")
    if not 0.25 <= minutes <= 600:
        raise UserError(f"--minutes {minutes} is out of range; use 0.25 to 600")
    wide = population == "wide"
    key = [seed, user_index, ACTIVITY_CODES[activity], MOUNTS.index(mount)]
    rng = np.random.default_rng([*key, 1] if wide else key)
    fine = rate * max(4, int(np.ceil(400 / rate)))
    total = minutes * 60.0
    # The grid runs past the end so a bout's last landing never falls off it; labels are clipped.
    track = motions.Track(fine, int((total + 15.0) * fine) + 1, mount, person(population, user_index), rng)
    _compose(track, activity, total)
    t, acc = (_imu_wide if wide else _imu)(track, rate, full_scale, total, rng)
    extra = {"population": population} if wide else {}
    meta = Meta(
        sample_rate_hz=rate,
        full_scale_g=full_scale,
        mount=mount,
        user=user_id(activity, user_index, population),
        board="simulated",
        device=f"sim-imu-{seed}-{user_index}",
        extra={"source": "repcount simulate", "activity": activity, "person": f"sim-u{user_index:03d}",
               "seed": str(seed), **extra},
    )
    end = float(t[-1])
    segments = [Segment(a, min(b, end), act) for a, b, act in sorted(track.segments) if a < end - 0.1]
    events = [Event(et, kind) for et, kind in sorted(track.events) if et < end]
    return Recording(meta, t, acc, None, segments, events)


def _compose(tr: motions.Track, activity: str, total: float) -> None:
    """Fill the session with labelled segments, back to back, until `total` seconds."""
    rng, st = tr.rng, tr.style
    t = 0.0
    first = True
    while total - t > 4.0:
        left = total - t
        if first:
            kind, first = "standing", False
        else:
            kind = _next_kind(activity, rng, tr)
        if kind == "jump-rope" and left <= 6.0:
            kind = "standing"  # too little time left for a bout
        if kind == "jump-rope":
            bout = min(st.bout_s * rng.uniform(0.4, 1.6), left - 3.0)
            n = max(int((bout - 2.5) * st.jump_rate_hz * 0.8), 3)  # doubles and pauses take longer
            miss_at = int(rng.geometric(st.miss_rate))
            end = motions.jump_bout(tr, t, min(n, miss_at), miss=miss_at < n)
            t = end
            if miss_at < n and total - t > 4.0:  # catch the rope, reposition it, start again
                d = min(rng.uniform(1.5, 4.0), total - t)
                motions.still(tr, t, t + d, "rest")
                t += d
            continue
        d = min(_duration(kind, rng), left)
        if kind in ("walking", "running", "stairs"):
            if d < 4.0:
                kind = "standing"
            else:
                motions.gait(tr, t, t + d, kind)
        if kind in ("standing", "sitting", "rest"):
            motions.still(tr, t, t + d, kind)
        elif kind == "gestures":
            motions.gestures(tr, t, t + d)
        elif kind == "pickup":
            motions.pickup(tr, t, t + d)
        elif kind == "car":
            motions.car(tr, t, t + d)
        elif kind == "elevator":
            motions.elevator(tr, t, t + d)
        t += d
    if total - t > 0:
        motions.still(tr, t, total, "standing")


def _next_kind(activity: str, rng: np.random.Generator, tr: motions.Track) -> str:
    last = tr.segments[-1][2] if tr.segments else ""
    if activity == "jump-rope":
        if last != "jump-rope":
            return "jump-rope"
        return str(rng.choice(["rest", "walking", "gestures", "pickup", "standing"],
                              p=[0.5, 0.15, 0.15, 0.1, 0.1]))
    if activity in ("walking", "running"):
        if last != activity:
            return activity
        return str(rng.choice(["standing", "walking", "gestures"], p=[0.6, 0.2, 0.2]))
    if activity == "distractors":
        return str(rng.choice([d for d in DISTRACTORS if d != last]))
    options = ["jump-rope", "walking", "running", *DISTRACTORS]
    return str(rng.choice([o for o in options if o != last]))


def _duration(kind: str, rng: np.random.Generator) -> float:
    low, high = {"rest": (8, 30), "standing": (3, 12), "walking": (10, 90), "running": (15, 90),
                 "gestures": (5, 20), "pickup": (6, 20), "sitting": (10, 40), "stairs": (10, 30),
                 "car": (20, 60), "elevator": (8, 20)}[kind]
    return float(rng.uniform(low, high))


def _specific_force_mounted(tr: motions.Track, rng: np.random.Generator) -> np.ndarray:
    """Specific force in the frame of an IMU mounted at a uniformly random angle, on the fine grid."""
    uniform_filter1d = heavy.scipy_ndimage().uniform_filter1d

    def settle(posture: np.ndarray) -> np.ndarray:  # posture changes take about half a second
        width = int(0.3 * tr.rate)
        return uniform_filter1d(uniform_filter1d(posture, width, mode="nearest"), width, mode="nearest")

    pitch = tr.pitch + settle(tr.posture_pitch)
    roll = tr.roll + settle(tr.posture_roll)
    f = tr.lin + np.array([0.0, 0.0, 1.0])  # specific force: gravity reads +1 g upwards
    cp, sp, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    x = cp * f[:, 0] - sp * f[:, 2]  # into the limb's frame: undo the pitch, then the roll
    z1 = sp * f[:, 0] + cp * f[:, 2]
    y = cr * f[:, 1] + sr * z1
    z = -sr * f[:, 1] + cr * z1
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a uniformly random mounting orientation
    r = q * np.sign(np.linalg.det(q))
    # Row by row rather than an (n, 3) @ (3, 3) product, which BLAS runs slowly on tall arrays.
    return np.stack([r[i, 0] * x + r[i, 1] * y + r[i, 2] * z for i in range(3)], axis=1)


def _read_times(rate: float, total: float, rng: np.random.Generator) -> np.ndarray:
    """When the device reads a sample: its clock off by up to 0.5 %, jitter, lost samples."""
    clock = 1 + rng.uniform(-0.005, 0.005)  # the IMU's own clock is off by up to 0.5 %
    n = int(total * rate * clock) + 1
    jitter = np.clip(rng.normal(0, rng.uniform(0.0005, 0.002), n), -0.3 / rate, 0.3 / rate)
    t = np.arange(n) / (rate * clock) + jitter
    t = t[(t >= 0) & (t <= total)]
    keep = rng.random(len(t)) > rng.uniform(0.0, 0.006)
    gaps = rng.integers(0, len(t), rng.poisson(len(t) / (rate * 120)))
    for g in gaps:  # occasional bursts of lost samples (a busy bus, a full FIFO)
        keep[g: g + int(rng.integers(2, 8))] = False
    keep[0] = True
    return t[keep]


def _imu(tr: motions.Track, rate: float, full_scale: float, total: float,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """What an IMU mounted at a random angle reads: filtered, jittered, noisy, clipped, quantised."""
    signal = heavy.scipy_signal()

    mounted = _specific_force_mounted(tr, rng)
    sos = signal.butter(2, 0.42 * rate, fs=tr.rate, output="sos")  # the IMU's digital low-pass
    filtered = signal.sosfilt(sos, mounted, axis=0)
    t = _read_times(rate, total, rng)
    grid = np.arange(tr.n) / tr.rate
    acc = np.stack([np.interp(t, grid, filtered[:, i]) for i in range(3)], axis=1)
    sensitivity = 1 + rng.uniform(-0.03, 0.03, 3)
    bias = rng.uniform(-0.04, 0.04, 3)
    acc = acc * sensitivity + bias + rng.normal(0, rng.uniform(0.003, 0.012), acc.shape)
    lsb = full_scale / 32768.0
    acc = raw_from_g(acc, full_scale).astype(np.float64) * lsb + 0.0
    return np.round(t, 4), acc


def _imu_wide(tr: motions.Track, rate: float, full_scale: float, total: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The widened population's IMU: another output data rate, filter, errors and clipping per recording.

    The IMU samples at its own rate (1, 1.04, 2, 2.08 or 4 times `rate`, e.g. 50, 52, 100,
    104 or 200 Hz for 50) behind its own anti-alias filter (none, weak, ordinary or steep);
    the device reads it at `rate` as firmware does, taking the latest sample or the mean of
    the FIFO since the last read. At 50 Hz without a filter, impacts alias.
    """
    signal = heavy.scipy_signal()

    mounted = _specific_force_mounted(tr, rng)
    odr = min(rate * float(rng.choice([1.0, 1.04, 2.0, 2.08, 4.0])), tr.rate / 2)
    kind = str(rng.choice(["none", "weak", "ordinary", "steep"], p=[0.15, 0.2, 0.4, 0.25]))
    order, corner = {"none": (0, 0.0), "weak": (1, 0.45), "ordinary": (2, rng.uniform(0.2, 0.45)),
                     "steep": (4, rng.uniform(0.1, 0.3))}[kind]
    filtered = mounted
    if order:
        sos = signal.butter(order, corner * odr, fs=tr.rate, output="sos")
        filtered = signal.sosfilt(sos, mounted, axis=0)
    clock = 1 + rng.uniform(-0.01, 0.01)
    imu_t = (np.arange(int((total + 1) * odr * clock) + 1) + rng.uniform(0, 1)) / (odr * clock)
    grid = np.arange(tr.n) / tr.rate
    imu = np.stack([np.interp(imu_t, grid, filtered[:, i]) for i in range(3)], axis=1)
    t = _read_times(rate, total, rng)
    latest = np.clip(np.searchsorted(imu_t, t, side="right") - 1, 0, len(imu_t) - 1)
    fifo = max(1, round(odr / rate)) if rng.random() < 0.5 else 1  # mean of the FIFO, or the latest
    summed = np.concatenate([np.zeros((1, 3)), np.cumsum(imu, axis=0)])
    first = np.maximum(latest + 1 - fifo, 0)
    acc = (summed[latest + 1] - summed[first]) / (latest + 1 - first)[:, None]
    sensitivity = 1 + rng.uniform(-0.08, 0.08, 3)
    bias = rng.uniform(-0.15, 0.15, 3)
    acc = acc * sensitivity + bias + rng.normal(0, rng.uniform(0.001, 0.04), acc.shape)
    clip_at = float(rng.choice(FULL_SCALES))  # the IMU's own range; the file keeps `full_scale`
    acc = raw_from_g(acc, clip_at).astype(np.float64) * (clip_at / 32768.0)
    lsb = full_scale / 32768.0
    acc = raw_from_g(acc, full_scale).astype(np.float64) * lsb + 0.0
    return np.round(t, 4), acc


def simulate_dataset(activity: str, mount: str, users: int, minutes: float, seed: int, out: str | Path,
                     first_user: int = 1, rate: float = 50.0, full_scale: float = 8.0,
                     plot: bool = False, progress: bool = False, population: str = "default",
                     generator: str = "a") -> list[Path]:
    """Write one recording per user and OUT/manifest.json; return the recording paths.

    `generator` "b" writes generator B's sessions (repcount.data.generator_b) instead: an
    independent signal model for held-out evaluation, with a population of its own.
    """
    if generator not in GENERATORS:
        raise UserError(f"unknown generator {generator!r}; choose one of {', '.join(GENERATORS)}")
    if generator == "b" and population != "default":
        raise UserError("--population chooses generator a's people; "
                        "generator b has one population of its own: leave --population out")
    if users < 1:
        raise UserError("--users must be at least 1")
    if first_user < 0:
        raise UserError("--first-user must be 0 or more")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths, entries = [], []
    totals: Counter[str] = Counter()
    for i, idx in enumerate(range(first_user, first_user + users)):
        if generator == "b":
            rec = generator_b.simulate_user(activity, mount, idx, minutes, seed, rate, full_scale)
        else:
            rec = simulate_user(activity, mount, idx, minutes, seed, rate, full_scale, population)
        path = save(rec, out / f"{rec.meta.user}-{activity}-{mount}-s{seed}.rec")
        kinds = Counter(e.kind for e in rec.events)
        totals.update(kinds)
        seconds: Counter[str] = Counter()
        for s in rec.segments:
            seconds[s.activity] += s.end - s.start
        entries.append({"file": path.name, "user": rec.meta.user, "user_index": idx,
                        "events": dict(sorted(kinds.items())),
                        "segment_seconds": {k: round(v, 3) for k, v in sorted(seconds.items())}})
        if plot:
            plot_recording(rec, path.with_suffix(".png"),
                           title=f"{rec.meta.user} {activity} ({mount}, seed {seed})")
        paths.append(path)
        if progress:
            print(f"simulate: {i + 1}/{users} {path.name}", file=sys.stderr, flush=True)
    manifest = {
        "generator": "repcount simulate" + (" --generator b" if generator == "b" else ""),
        "activity": activity, "mount": mount, "seed": seed, "minutes": minutes,
        "sample_rate_hz": rate, "full_scale_g": full_scale,
        "users": [e["user"] for e in entries],
        "files": entries,
        "events": dict(sorted(totals.items())),
        **({"population": population} if population != "default" else {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return paths
