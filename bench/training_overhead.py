"""2. Training overhead of ECR: step time of each condition vs the baseline at equal batch (same
student size, same rows at every step, same seed), in one process. Target: ECR <= 1.10x.

The conditions are stepped in turn (baseline, ecr, kd, ecr+kd, baseline, ...), one optimizer step
each (``Trainer.train_step``: cue choice + forward + backward + update), so slow drift of a shared
machine hits all of them alike; step s reads the same rows in every condition, so each step gives
one paired ratio, and the table reports the median of those ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab import experiment  # noqa: E402
from ecr_lab.config import get_profile  # noqa: E402
from ecr_lab.student import make_student  # noqa: E402
from ecr_lab.training import Trainer  # noqa: E402

CONDITIONS = ("baseline", "ecr", "kd", "ecr+kd")


def paired_step_times(setup, preset: str, steps: int = 100, warmup: int = 5) -> dict[str, np.ndarray]:
    """Seconds of each of ``steps`` optimizer steps per condition, stepped in turn. {condition: (steps,)}"""
    trainers, batches = {}, {}
    for c in CONDITIONS:
        cfg = experiment.train_config(setup.profile, c, 0, steps=steps + warmup, progress=False, eval_every=10_000)
        trainers[c] = Trainer(make_student(preset, setup.tokenizer, setup.anchors), setup.tokenizer,
                              setup.train.texts, setup.teacher_train, setup.anchors, cfg)
        trainers[c].objective.train()
        batches[c] = trainers[c].batches()
    times = {c: [] for c in CONDITIONS}
    for _ in range(steps + warmup):
        for c in CONDITIONS:
            times[c].append(trainers[c].train_step(batches[c])["step_time_s"])
    return {c: np.asarray(t[warmup:]) for c, t in times.items()}


def main() -> None:
    profile = get_profile("fast")
    setup = experiment.prepare(profile, anchors_dir=experiment.workspace(profile) / "anchors")
    rows = []
    for preset in profile.student_presets:
        t = paired_step_times(setup, preset)
        for c in CONDITIONS:
            ratios = t[c] / t["baseline"]
            rows.append({"student": preset, "condition": c, "batch": profile.batch_size,
                         "ms_per_step_median": 1000 * float(np.median(t[c])),
                         "ratio_vs_baseline": float(np.median(ratios)),
                         "ratio_iqr": f"{np.percentile(ratios, 25):.3f}-{np.percentile(ratios, 75):.3f}"})
    df = show("Training step time at equal batch, paired by step (CPU, clipping off)", rows)
    ecr, both = df[df.condition == "ecr"], df[df.condition == "ecr+kd"]
    headline(f"ECR training step time vs baseline: {ecr.ratio_vs_baseline.min():.3f}x-{ecr.ratio_vs_baseline.max():.3f}x "
             f"(ECR+KD {both.ratio_vs_baseline.min():.3f}x-{both.ratio_vs_baseline.max():.3f}x; target <= 1.10x)")


if __name__ == "__main__":
    main()
