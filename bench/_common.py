"""Shared helpers of the bench scripts: a best-of timer, a table printer, the fast-profile runs."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ecr_lab.timing import interleaved_best_of


def best_of(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Best wall time (s) of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    return interleaved_best_of({"fn": fn}, repeats=repeats, warmup=False)["fn"]


def interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5) -> dict[str, float]:
    """Best time of each function, measured alternately (ecr_lab.timing.interleaved_best_of)."""
    return interleaved_best_of(fns, repeats=repeats)


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
