"""Shared helpers of the bench scripts: a best-of timer, a table printer, the fast-profile runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd


def best_of(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Best wall time (s) of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5) -> dict[str, float]:
    """Best time of each function, measured alternately (A B A B ...) so drift hits all equally."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def show(title: str, rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    print(f"\n## {title}\n")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return df


def headline(text: str) -> None:
    """The last line of every bench script: its headline ratio."""
    print(f"\nHEADLINE: {text}")


def fast_setup_and_run(condition: str = "ecr", preset: str | None = None):
    """The fast profile's set-up and one of its runs (trained once, then loaded from the workspace)."""
    from ecr_lab import experiment
    from ecr_lab.config import get_profile

    profile = get_profile("fast")
    ws = experiment.workspace(profile)
    setup = experiment.prepare(profile, anchors_dir=ws / "anchors")
    run = experiment.train_one(setup, preset or profile.student_presets[1], condition, 0, ws / "runs", progress=False)
    return setup, run
