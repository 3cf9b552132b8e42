"""6. Training throughput: tokens/s of ecr_lab's training loop vs a plain Hugging Face ``Trainer`` on
the same fresh student, data, batch, steps and precision; on this CPU always (fast profile), and on
the GPU (gpu profile, fp32 and fp16/bf16) when one is present. Target: >= 1.0x.

Tokens are the attended (non-pad) tokens of the batches the model was trained on, counted by the
same forward pre-hook for both loops (a collator count would include the batch ``accelerate``
prefetches). Seconds are the wall time of building the loop's trainer object plus its training call
(ours builds its optimizer and ``accelerate`` state in the constructor, HF's ``Trainer`` in
``train()``); model construction and HF's pre-tokenisation are excluded, and so is the projection
step ours fits after its last training step. Both loops run once for a few steps to warm up, then
alternately (ours, HF, ours, HF), best of 2. ``ECR_BENCH_STEPS`` overrides the step counts (smoke runs).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab import experiment  # noqa: E402
from ecr_lab.config import cuda_has_bf16_tensor_cores, get_profile  # noqa: E402
from ecr_lab.pipeline import machine  # noqa: E402
from ecr_lab.student import make_student  # noqa: E402
from ecr_lab.training import TrainConfig  # noqa: E402
from ecr_lab.training import Trainer as EcrTrainer  # noqa: E402

_LABEL = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}


def _steps(default: int) -> int:
    return int(os.environ.get("ECR_BENCH_STEPS", default))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class _TokenCounter:
    """Sums ``attention_mask`` over every forward call of a model (the batches it trained on)."""

    def __init__(self, model):
        self.tokens = 0
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        mask = kwargs.get("attention_mask")
        if mask is not None:
            self.tokens += int(mask.sum())

    def remove(self) -> int:
        self.handle.remove()
        return self.tokens


def _train_ours(setup, preset: str, steps: int, batch_size: int, device: str, precision: str) -> tuple[float, int]:
    """(seconds, tokens) of one run of ecr_lab's loop (baseline condition)."""
    cfg = experiment.train_config(setup.profile, "baseline", 0, steps=steps, batch_size=batch_size, progress=False,
                                  eval_every=steps + 10_000, device=device, mixed_precision=precision)
    model = make_student(preset, setup.tokenizer, setup.anchors, seed=0)
    counter = _TokenCounter(model)
    _sync(device)
    t0 = time.perf_counter()
    trainer = EcrTrainer(model, setup.tokenizer, setup.train.texts, setup.teacher_train, setup.anchors, cfg)
    projection = [0.0]
    fit_projector = trainer.update_projector

    def timed_projector():  # the projection step after the last step: not training, not timed
        _sync(device)
        p0 = time.perf_counter()
        out = fit_projector()
        projection[0] += time.perf_counter() - p0
        return out

    trainer.update_projector = timed_projector
    run = trainer.fit(resume=False)
    _sync(device)
    seconds = time.perf_counter() - t0 - projection[0]
    if len(run.history) != steps:
        raise RuntimeError(f"ecr_lab loop ran {len(run.history)} of {steps} steps (status {run.status})")
    return seconds, counter.remove()


def _hf_dataset(setup, max_length: int):
    """The training texts tokenised once, the standard Hugging Face way."""
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    tok = setup.tokenizer
    return Dataset.from_dict({"text": list(setup.train.texts)}).map(
        lambda b: tok(b["text"], truncation=True, max_length=max_length), batched=True, remove_columns=["text"])


def hf_arguments(output_dir: str, cfg: TrainConfig, steps: int, batch_size: int, device: str, precision: str):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=batch_size, max_steps=steps,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=min(cfg.warmup_steps, steps // 2),  # ours caps warm-up at steps // 2
        lr_scheduler_type="cosine", max_grad_norm=0.0,  # 0: no clipping, as ours
        report_to=[], save_strategy="no", logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
        use_cpu=device == "cpu", bf16=precision == "bf16", fp16=precision == "fp16", seed=0)


def _train_hf(setup, preset: str, steps: int, batch_size: int, device: str, precision: str, dataset,
              cfg: TrainConfig) -> tuple[float, int]:
    """(seconds, tokens) of one run of a plain transformers Trainer."""
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, Trainer

    model = make_student(preset, setup.tokenizer, setup.anchors, seed=0)
    counter = _TokenCounter(model)
    collator = DataCollatorForLanguageModeling(setup.tokenizer, mlm=False)
    with tempfile.TemporaryDirectory(prefix="hf_trainer_") as out:
        args = hf_arguments(out, cfg, steps, batch_size, device, precision)
        _sync(device)
        t0 = time.perf_counter()
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # disable_tqdm's replacement prints the final metrics dict
        result = trainer.train()
        _sync(device)
        seconds = time.perf_counter() - t0
    if result.global_step != steps:
        raise RuntimeError(f"transformers Trainer ran {result.global_step} of {steps} steps")
    return seconds, counter.remove()


def compare(setup, preset: str, steps: int, batch_size: int, device: str, precision: str) -> list[dict]:
    """Rows (ours, HF) of training tokens/s at equal model, data, batch, steps and precision, plus the
    ratio ours/HF on each row."""
    cfg = experiment.train_config(setup.profile, "baseline", 0, steps=steps, batch_size=batch_size)
    dataset = _hf_dataset(setup, cfg.max_length)
    ours = lambda n: _train_ours(setup, preset, n, batch_size, device, precision)  # noqa: E731
    hf = lambda n: _train_hf(setup, preset, n, batch_size, device, precision, dataset, cfg)  # noqa: E731
    warm = min(3, steps)
    ours(warm), hf(warm)  # warm-up: first-call costs (imports, allocator, kernels) out of the timings
    best = {"ours": None, "hf": None}
    for _ in range(2):  # interleaved against drift: ours, HF, ours, HF; best tokens/s of each
        for name, fn in (("ours", ours), ("hf", hf)):
            seconds, tokens = fn(steps)
            if best[name] is None or tokens / seconds > best[name][1] / best[name][0]:
                best[name] = (seconds, tokens)
    ratio = (best["ours"][1] / best["ours"][0]) / (best["hf"][1] / best["hf"][0])
    rows = []
    for name, loop, prec in (("ours", "ecr_lab Trainer", _LABEL[precision]),
                             ("hf", "transformers Trainer", _LABEL[precision])):
        seconds, tokens = best[name]
        rows.append({"loop": loop, "device": device, "precision": prec, "preset": preset, "batch": batch_size,
                     "steps": steps, "seconds": seconds, "tokens_per_s": tokens / seconds, "ratio_ours_vs_hf": ratio})
    return rows


def _setup(name: str):
    profile = get_profile(name)
    return experiment.prepare(profile, anchors_dir=experiment.workspace(profile) / "anchors")


def main() -> None:
    setup = _setup("fast")
    preset = setup.profile.student_presets[1]
    rows = compare(setup, preset, _steps(40), setup.profile.batch_size, "cpu", "no")
    bf16 = compare(setup, preset, _steps(40), setup.profile.batch_size, "cpu", "bf16")
    rows += bf16
    text = (f"ecr_lab loop vs transformers Trainer, training tokens/s: {rows[0]['ratio_ours_vs_hf']:.2f}x fp32, "
            f"{bf16[0]['ratio_ours_vs_hf']:.2f}x bf16 on CPU (target >= 1.0x)")
    if torch.cuda.is_available():
        gpu = _setup("gpu")
        parts = []
        for precision in ("no", "fp16", *(("bf16",) if cuda_has_bf16_tensor_cores() else ())):
            got = compare(gpu, gpu.profile.student_presets[0], _steps(300), gpu.profile.batch_size, "cuda", precision)
            rows += got
            parts.append(f"{got[0]['ratio_ours_vs_hf']:.2f}x {_LABEL[precision]}")
        text += "; GPU: " + ", ".join(parts)
    show(f"Training tokens/s, ecr_lab loop vs transformers Trainer ({machine()})", rows)
    headline(text)


if __name__ == "__main__":
    main()
