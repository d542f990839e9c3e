"""Splits by user: held-out users, and leave-one-user-out pooling.

A model that has seen a person's windows in training says nothing about how it counts for
a new person, so every split here is by user, never by window: the held-out users
(`--test-data`, `--test-users`, `--holdout-users`) are never trained on, and in a
leave-one-user-out estimate every recording is measured by the fold that never saw its
user, then pooled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repcount.data.recordings import Recording
from repcount.errors import UserError
from repcount.learn import metrics


def split_users(recs: Sequence[Recording], n_holdout: int, seed: int) -> tuple[list[str], list[str]]:
    """(training users, held-out users): split by user, not window, so no person is seen on both sides."""
    users = sorted({r.meta.user for r in recs})
    if n_holdout >= len(users):
        raise UserError(
            f"--holdout-users {n_holdout}: the data has only {len(users)} users; keep at least one "
            "for training"
        )
    rng = np.random.default_rng(seed)
    test = sorted(rng.choice(users, size=n_holdout, replace=False).tolist())
    return [u for u in users if u not in test], test


def check_users(option: str, users: Sequence[str], recs: Sequence[Recording]) -> None:
    """Refuse a user name that has no recordings: a typo would silently hold out nobody."""
    present = {r.meta.user for r in recs}
    missing = [u for u in users if u not in present]
    if missing:
        raise UserError(
            f"{option}: no recordings of {', '.join(missing)} (users present: {', '.join(sorted(present))})"
        )


def split(
    data: list[Recording],
    test: list[Recording] | None,
    test_users: Sequence[str],
    holdout_users: int | None,
    seed: int,
) -> tuple[list[Recording], list[Recording]]:
    """(training recordings, held-out recordings) from separate test recordings, named users or a count."""
    if test is not None:
        overlap = {r.meta.user for r in test} & {r.meta.user for r in data}
        if overlap:
            raise UserError(
                f"users {', '.join(sorted(overlap))} are in both --data and --test-data; "
                "held-out users must never be trained on"
            )
        return data, test
    if not (test_users or holdout_users):
        return data, []
    if test_users:
        check_users("--test-users", test_users, data)
    held = test_users or split_users(data, holdout_users or 0, seed)[1]
    recs = [r for r in data if r.meta.user not in held]
    if not recs:
        raise UserError("--test-users names every user of --data; keep at least one for training")
    return recs, [r for r in data if r.meta.user in held]


def by_mount(recs: list[Recording], mount: str | None) -> list[Recording]:
    """The recordings of one mount (all of them when `mount` is None); none is an error."""
    if mount is None:
        return recs
    kept = [r for r in recs if r.meta.mount == mount]
    if not kept:
        raise UserError(
            f"no recordings with mount {mount!r} (mounts present: "
            f"{', '.join(sorted({r.meta.mount for r in recs}))})"
        )
    return kept


def pool_folds(folds: dict[str, dict]) -> dict:
    """Leave-one-user-out: every recording measured by the fold that never saw its user."""
    out: dict = {"folds": folds, "pipelines": {}}
    for pipe in ("float", "int8", "baseline"):
        recs = [r for f in folds.values() for r in f["pipelines"][pipe]["per_recording"]]
        counts = [(r["predicted"], r["true"]) for r in recs]
        groups: dict[str, list] = {}
        for r in recs:
            groups.setdefault(r["group"], []).append((r["predicted"], r["true"]))
        tally = [f["pipelines"][pipe] for f in folds.values()]
        pooled = metrics.prf(*(sum(int(t[k]) for t in tally) for k in ("tp", "fp", "fn")))
        out["pipelines"][pipe] = {
            "count_mape": metrics.count_mape(counts),
            "event_f1": pooled["event_f1"],
            "false_counts_per_hour": metrics.false_counts_per_hour(
                sum(t["false_counts"] for t in tally), sum(t["distractor_seconds"] for t in tally)
            ),
            "true_events": sum(c[1] for c in counts),
            "predicted_events": sum(c[0] for c in counts),
            "by_group": {g: {"count_mape": metrics.count_mape(c)} for g, c in sorted(groups.items())},
        }
    return out
