"""2. Training overhead of ECR: step time of ECR vs baseline at equal batch (same student size,
same data, same number of steps), interleaved in one process. Target: <= 1.10x."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab import experiment  # noqa: E402
from ecr_lab.config import get_profile  # noqa: E402
from ecr_lab.student import make_student  # noqa: E402
from ecr_lab.training import Trainer  # noqa: E402


def step_time(setup, preset: str, condition: str, steps: int) -> float:
    cfg = experiment.train_config(setup.profile, condition, 0, steps=steps, progress=False, eval_every=10_000)
    trainer = Trainer(make_student(preset, setup.tokenizer, setup.anchors), setup.tokenizer, setup.train.texts,
                      setup.teacher_train, setup.anchors, cfg)
    run = trainer.fit(resume=False)
    return float(run.history["step_time_s"].iloc[5:].median())  # cue choice + forward + backward + update


def main() -> None:
    profile = get_profile("fast")
    setup = experiment.prepare(profile, anchors_dir=experiment.workspace(profile) / "anchors")
    rows = []
    for preset in profile.student_presets:
        times = {c: [] for c in ("baseline", "ecr", "kd", "ecr+kd")}
        for _ in range(5):  # interleave the conditions, keep the best median (2 shared cores: +-10 % run to run)
            for c in times:
                times[c].append(step_time(setup, preset, c, steps=30))
        base = min(times["baseline"])
        for c, ts in times.items():
            rows.append({"student": preset, "condition": c, "batch": profile.batch_size, "ms_per_step": 1000 * min(ts),
                         "ratio_vs_baseline": min(ts) / base})
    df = show("Training step time at equal batch (CPU, clipping off)", rows)
    ecr = df[df.condition == "ecr"]
    headline(f"ECR training step time vs baseline: {ecr.ratio_vs_baseline.min():.3f}x-{ecr.ratio_vs_baseline.max():.3f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()
