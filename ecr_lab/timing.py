"""Interleaved best-of timing: the one way ecr_lab compares the speed of two code paths.

Each function runs once to warm up, then all of them in turn (A B A B ...), ``repeats`` times; the
best time of each is kept. Alternating makes slow drift on a shared machine hit every side equally;
the minimum is the least noisy estimate of what the code itself costs. Used by
:func:`ecr_lab.evaluation.inference_overhead` and the scripts in ``bench/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def interleaved_best_of(fns: Mapping[str, Callable[[], object]], repeats: int = 5,
                        warmup: bool = True) -> dict[str, float]:
    """Best wall time in seconds of each function, measured alternately. {name: fn} -> {name: s}."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}
