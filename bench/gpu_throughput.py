"""6. GPU (only where a GPU is present): tokens/s of ecr_lab's training loop vs a plain Hugging Face
``Trainer`` on the same model, data and batch, and the gpu profile's wall time. Skips on CPU."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402


def main() -> None:
    if not torch.cuda.is_available():
        headline("no GPU on this machine: GPU benchmark skipped")
        return
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from ecr_lab import experiment
    from ecr_lab.config import get_profile
    from ecr_lab.control_tokens import ECRCollator
    from ecr_lab.student import make_student
    from ecr_lab.training import Trainer as EcrTrainer

    profile = get_profile("gpu")
    setup = experiment.prepare(profile)
    preset, steps, bs = profile.student_presets[0], 300, profile.batch_size
    cfg = experiment.train_config(profile, "baseline", 0, steps=steps, progress=False, eval_every=10_000)
    t0 = time.perf_counter()
    run = EcrTrainer(make_student(preset, setup.tokenizer, setup.anchors), setup.tokenizer, setup.train.texts,
                     setup.teacher_train, setup.anchors, cfg).fit(resume=False)
    ours = time.perf_counter() - t0
    tokens = float(run.history["tokens_per_s"].mean())
    model = make_student(preset, setup.tokenizer, setup.anchors)
    ds = Dataset.from_dict({"text": setup.train.texts})
    args = TrainingArguments(output_dir="/tmp/hf_trainer", per_device_train_batch_size=bs, max_steps=steps,
                             learning_rate=cfg.learning_rate, report_to=[], save_strategy="no", logging_steps=10_000,
                             remove_unused_columns=False, max_grad_norm=None)
    hf = Trainer(model=model, args=args, train_dataset=ds, data_collator=ECRCollator(setup.tokenizer, m=0))
    t0 = time.perf_counter()
    hf.train()
    theirs = time.perf_counter() - t0
    rows = [{"loop": "ecr_lab (accelerate)", "seconds": ours, "steps": steps},
            {"loop": "transformers Trainer", "seconds": theirs, "steps": steps}]
    show(f"GPU training throughput ({torch.cuda.get_device_name(0)}, {preset}, batch {bs}); ecr_lab tokens/s {tokens:.0f}", rows)
    headline(f"ecr_lab loop vs HF Trainer wall time: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
