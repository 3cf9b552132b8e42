"""7. The backward pass of ``trainable="cues+top"`` without cues: SmolLM2-135M (the pretrained study's
student), baseline and KD, with the input lookup detached (``freezing.stop_input_gradient``, what
the trainer does) against the same step with the lookup kept (its gradient is masked to zero
anyway), and ECR+KD (cues in the input: the whole backward) for scale. Same rows at every step,
the trainers stepped in turn, median of the paired per-step ratios. Target: detached < 1.0x.

``ECR_BENCH_STEPS`` sets the measured steps (default 10, after 2 warm-up steps); ``ECR_BENCH_PRESET``
another student (``micro`` for a smoke run without SmolLM2).
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab import experiment  # noqa: E402
from ecr_lab.config import get_profile  # noqa: E402
from ecr_lab.pretrained import PretrainedStudyConfig, load_smollm2_with_cues  # noqa: E402
from ecr_lab.student import make_student  # noqa: E402
from ecr_lab.training import TrainConfig, Trainer  # noqa: E402

ARMS = {"baseline, lookup detached": "baseline", "baseline, lookup kept": "baseline",
        "kd, lookup detached": "kd", "kd, lookup kept": "kd", "ecr+kd (cues: whole backward)": "ecr+kd"}


def main() -> None:
    steps, warmup = int(os.environ.get("ECR_BENCH_STEPS", 10)), 2
    preset = os.environ.get("ECR_BENCH_PRESET", "smollm2-135m")
    profile = get_profile("fast")
    setup = experiment.prepare(profile, anchors_dir=experiment.workspace(profile) / "anchors")
    study = PretrainedStudyConfig()
    if preset == "smollm2-135m":
        tok, base = load_smollm2_with_cues(setup.anchors, device="cpu")
    else:
        tok, base = setup.tokenizer, make_student(preset, setup.tokenizer, setup.anchors, seed=0)
    trainers, batches = {}, {}
    for arm, condition in ARMS.items():
        cfg = TrainConfig(condition=condition, steps=steps + warmup, batch_size=study.batch_size, learning_rate=3e-4,
                          warmup_steps=1, trainable="cues+top", top_layers=study.top_layers,
                          max_length=study.max_length, device="cpu", progress=False, eval_every=10_000)
        t = Trainer(copy.deepcopy(base), tok, setup.train.texts, setup.teacher_train, setup.anchors, cfg)
        if arm.endswith("kept"):
            t._input_hook.remove()
        t.objective.train()
        trainers[arm], batches[arm] = t, t.batches()
    times = {arm: [] for arm in ARMS}
    for _ in range(steps + warmup):
        for arm, t in trainers.items():
            times[arm].append(t.train_step(batches[arm])["step_time_s"])
    t = {arm: np.asarray(v[warmup:]) for arm, v in times.items()}
    rows = []
    for arm in ARMS:
        kept = t[f"{ARMS[arm]}, lookup kept"] if ARMS[arm] != "ecr+kd" else t["baseline, lookup kept"]
        rows.append({"student": preset, "arm": arm, "batch": study.batch_size,
                     "s_per_step_median": float(np.median(t[arm])),
                     "ratio_vs_kept": float(np.median(t[arm] / kept))})
    df = show(f"cues+top step time, paired by step ({steps} steps, CPU)", rows).set_index("arm")
    headline(f"cues+top without cues, lookup detached vs kept: baseline "
             f"{df.loc['baseline, lookup detached', 'ratio_vs_kept']:.2f}x, KD "
             f"{df.loc['kd, lookup detached', 'ratio_vs_kept']:.2f}x ({preset}; target < 1.0x)")


if __name__ == "__main__":
    main()
