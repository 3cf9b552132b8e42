"""One training loop for every condition (docs/design.md, "training"), built on ``accelerate``.

The pieces live in their own modules: the config and its checks (:mod:`ecr_lab.training_config`),
the training set tokenised once and its step sampler (:mod:`ecr_lab.training_data`), where cues
come from (:mod:`ecr_lab.cue_sources`), the loss of a step as one module
(:mod:`ecr_lab.objective`, with the distillation loss of :mod:`ecr_lab.distillation`), which
weights train and decay (:mod:`ecr_lab.freezing`), checkpoints (:mod:`ecr_lab.checkpoints`) and
the saved run (:mod:`ecr_lab.runs`). What is left here is the loop, which reads like nanoGPT's:
draw a step's micro-batches, add their cues, forward, loss, backward, step, log, evaluate,
checkpoint. The same loop runs on one process or many (``torchrun`` / ``accelerate launch``), in
full or mixed precision, with or without gradient accumulation: a step computes the same thing
whichever way its rows are split (soft cues aside: their Gumbel noise is drawn per process and
step, so it depends on the split).

Gradient clipping is **off** by default (claim C3 is about training without it). Every step logs
loss, grad norm, learning rate, tokens/s and its wall time; every ``eval_every`` steps the loop
embeds a fixed probe set and logs the metrics of :mod:`ecr_lab.metrics` (drift to the previous
evaluation and to the start included). Batches are drawn from a generator seeded by
``(seed, step)``, so a killed run resumed from its last checkpoint reaches the same weights as an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import checkpoints, metrics
from ._io import sha256_texts
from .anchors import AnchorSet, check_m
from .caching import save_array
from .control_tokens import count_cue_tokens, cue_token_ids, prepend_cues
from .cue_sources import make_cue_source, student_cue_share
from .distillation import EmbeddingDistillationLoss
from .ecr_model import ECRModel
from .freezing import param_groups, select_trainable, stop_input_gradient
from .objective import ECRObjective, text_tokens
from .projection import AnchorProjector
from .runs import Run, load_run, save_run
from .training_config import CONDITIONS, CUE_SOURCES, TRAINABLE, TrainConfig
from .training_data import tokenize_once, training_loader
from .vectors import check_embeddings

__all__ = ["CONDITIONS", "CUE_SOURCES", "TRAINABLE", "EvalSet", "Run", "TrainConfig", "Trainer", "TrainingDiverged",
           "load_run", "projector_rows", "save_run", "student_cue_share", "train"]


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm became NaN/inf."""


def projector_rows(texts: list[str], teacher: np.ndarray, cfg: TrainConfig) -> tuple[list[str], np.ndarray]:
    """The training rows the projection step is fitted on: all of them, or ``cfg.projector_rows`` of
    them drawn without replacement by ``cfg.seed`` (in their original order). (n,), (n, d_t) -> (r,), (r, d_t)."""
    r = cfg.projector_rows
    if r is None or r >= len(texts):
        return list(texts), teacher
    idx = np.sort(np.random.default_rng([cfg.seed, 2]).choice(len(texts), size=r, replace=False))
    return [texts[i] for i in idx], teacher[idx]


@dataclass
class EvalSet:
    """A fixed probe set embedded at every evaluation: a corpus (n rows) and its teacher rows (n, d_t)."""

    corpus: object
    teacher_embeddings: np.ndarray


def _check_inputs(tokenizer, model, texts: list[str], teacher: np.ndarray, anchors: AnchorSet, cfg: TrainConfig):
    if not texts:
        raise ValueError("no training texts: the corpus is empty")
    teacher = check_embeddings(teacher, "teacher_embeddings", dim=anchors.dim)
    if len(teacher) != len(texts):
        raise ValueError(f"mismatched lengths: {len(texts)} texts but {len(teacher)} teacher rows")
    check_m(cfg.m_cues, anchors.k)
    k_tok = count_cue_tokens(tokenizer)
    if k_tok != anchors.k:
        raise ValueError(f"the student's tokenizer has {k_tok} control tokens but the anchors K={anchors.k}; call "
                         "control_tokens.extend_tokenizer(tokenizer, anchors) and extend_model(model, tokenizer) "
                         "(ecr_lab.student.make_student does both)")
    if tokenizer.pad_token is None:
        raise ValueError("the tokenizer has no pad token, which batching needs; set one first, e.g. "
                         "tokenizer.pad_token = tokenizer.eos_token (ecr_lab.student.load_causal_lm does)")
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        raise ValueError("the model's embedding matrix is smaller than the tokenizer; "
                         "call control_tokens.extend_model(model, tokenizer)")
    return teacher


def make_accelerator(cfg: TrainConfig):
    """The ``Accelerator`` of one run: its device, ``cfg.mixed_precision``, and batches split across
    processes (``split_batches``: every process takes its share of each micro-batch the sampler draws).

    accelerate keeps one device and one precision per process. In a single process (a notebook that
    trains runs one after another) a run on another device or precision gets fresh state; in a
    launched group of processes the device is the launcher's, and another one is an error.
    """
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import DataLoaderConfiguration

    from .config import get_device

    want = get_device(cfg.device)
    if cfg.mixed_precision == "fp16" and want == "cpu":
        raise ValueError("mixed_precision='fp16' needs a CUDA GPU (a T4 on Colab); on CPU use 'bf16' or 'no'")
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if launched != "no" and launched != cfg.mixed_precision:
        warnings.warn(f"accelerate was launched with mixed_precision={launched!r} but this run's config says "
                      f"{cfg.mixed_precision!r}, which is used (and recorded with the run); to train in "
                      f"{launched}, set it in the config (ecr-lab train --mixed-precision {launched})",
                      RuntimeWarning, stacklevel=3)
    partial = PartialState._shared_state
    if partial and partial["device"].type != want:
        if partial.get("num_processes", 1) > 1:
            raise ValueError(f"these {partial['num_processes']} processes run on {partial['device'].type}, "
                             f"but the config asks for device={cfg.device!r}; launch a run on {want} separately")
        AcceleratorState._reset_state(reset_partial_state=True)  # a notebook's next run on another device
    elif AcceleratorState._shared_state.get("_mixed_precision", cfg.mixed_precision) != cfg.mixed_precision:
        AcceleratorState._reset_state()  # accelerate's own reset: the precision, not the processes
    return Accelerator(cpu=want == "cpu", mixed_precision=cfg.mixed_precision, rng_types=[],
                       dataloader_config=DataLoaderConfiguration(split_batches=True))


class Trainer:
    """Trains one student under one condition. Use :func:`train` unless you need the pieces."""

    def __init__(self, model, tokenizer, texts, teacher_embeddings, anchors: AnchorSet, config: TrainConfig,
                 out_dir: str | os.PathLike | None = None, eval_set: EvalSet | None = None, name: str = "run"):
        from transformers import get_cosine_schedule_with_warmup

        cfg = self.cfg = config
        self.name, self.texts = name, list(texts)
        self.train_hash = sha256_texts(self.texts)
        self.teacher = _check_inputs(tokenizer, model, self.texts, teacher_embeddings, anchors, cfg)
        self.tokenizer, self.anchors, self.eval_set = tokenizer, anchors, eval_set
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.acc = make_accelerator(cfg)
        self.student = ECRModel(model, tokenizer, anchors, m=cfg.m_cues, cue_feature=cfg.cue_feature,
                                layer=cfg.layer, max_length=cfg.max_length)
        self.cue_vocab = cue_token_ids(tokenizer, anchors.k)
        # the training set, tokenised once: token ids, row numbers, teacher cue ids
        teacher_cues = anchors.assign(self.teacher, cfg.m_cues)[0] if cfg.uses_cues else None
        self.dataset = tokenize_once(tokenizer, self.texts, cfg.max_length, teacher_cues)
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        torch.manual_seed(cfg.seed)  # the KD head's initial weights depend on the seed only
        self.cues = make_cue_source(cfg, len(self.texts), anchors.k, self.cue_vocab,
                                    lambda: AnchorProjector(anchors, method="ridge").fit(
                                        self.student.cue_features(self.texts), self.teacher))
        self.kd = EmbeddingDistillationLoss(model.config.hidden_size, anchors.dim) if cfg.uses_kd else None
        objective = ECRObjective(model, self.cues, self.kd, cfg.layer)
        params, masked, self._grad_mask = select_trainable(model, self.cue_vocab, cfg.trainable, cfg.top_layers)
        # no cue token in any input: the masked lookup gets no gradient, the backward stops at the top
        # layers (with none, nothing may be left that needs a gradient: keep the lookup's)
        cut = cfg.trainable == "cues+top" and not cfg.uses_cues and cfg.top_layers > 0
        self._input_hook = stop_input_gradient(model) if cut else None
        self.extra = [m for m in [self.kd, *self.cues.modules()] if m is not None]  # saved in checkpoints
        params += [p for m in self.extra for p in m.parameters()]
        # fused AdamW (one kernel per step on CPU and GPU, as transformers' Trainer defaults to)
        opt = torch.optim.AdamW(param_groups(params, masked, cfg.weight_decay), lr=cfg.learning_rate, fused=True)
        sched = get_cosine_schedule_with_warmup(opt, min(cfg.warmup_steps, cfg.steps // 2), cfg.steps)
        self.objective, self.opt, self.sched = self.acc.prepare(objective, opt, sched)
        self.params = params + masked
        self.teacher_t = torch.as_tensor(np.ascontiguousarray(self.teacher), dtype=torch.float32, device=self.acc.device)
        self.step, self.history, self.evals, self.status = 0, [], [], "running"
        self._start_emb = self._prev_emb = None

    # -- pieces ------------------------------------------------------------------------------
    @property
    def unwrapped(self):
        """The student itself (a plain ``transformers`` model, whatever accelerate wrapped around it)."""
        return self.acc.unwrap_model(self.objective).model

    @property
    def projector(self) -> AnchorProjector | None:
        return self.student.projector

    @property
    def rows_per_step(self) -> int:
        """Rows one optimizer step reads: batch_size x processes x gradient_accumulation_steps."""
        return self.cfg.batch_size * self.acc.num_processes * self.cfg.gradient_accumulation_steps

    def _fit_projector(self) -> AnchorProjector:
        """Fit the projection step on (student cue features, teacher rows) of the training set; with
        ``projection="kd_head"`` the projection step is the distillation head as it is now."""
        self.student.model = self.unwrapped
        if self.cfg.projection == "kd_head":
            self.student.projector = AnchorProjector.from_linear_map(self.anchors, self.kd.head.weight, self.kd.head.bias)
            return self.student.projector
        texts, teacher = projector_rows(self.texts, self.teacher, self.cfg)
        return self.student.fit_projector(texts, teacher, self.cfg.projection)

    def _project(self, batch: dict, use: torch.Tensor) -> torch.Tensor:
        """The student's projected top-m cues of the batch rows ``use`` (B,) -> (s, m) (fits the projector once if needed)."""
        if self.projector is None:
            self._fit_projector()
        return self.student.cues_from_ids(batch["input_ids"][use], batch["attention_mask"][use])

    def update_projector(self) -> AnchorProjector:
        """Soft cues: the trained router is the projection step; otherwise refit it on current features."""
        routers = self.cues.modules()
        if routers:
            self.student.projector = routers[0].to_projector()
            return self.student.projector
        return self._fit_projector()

    def _evaluate(self) -> dict | None:
        """Embed the probe set and log its metrics (main process only: the others would repeat it)."""
        es = self.eval_set
        if es is None or not self.acc.is_main_process:
            return None
        self.student.model = self.unwrapped
        x = self.student.encode(es.corpus.texts)
        row = {"step": self.step, **metrics.geometry_report(x, es.corpus, es.teacher_embeddings, seed=self.cfg.seed)}
        if self.out_dir is not None:
            save_array(self.out_dir / "embeddings" / f"step-{self.step:06d}.npy", x.astype(np.float32))
        if self._prev_emb is not None:
            row["drift_cka_prev"] = metrics.drift_cka(self._prev_emb, x)
            row["knn_churn_prev"] = metrics.knn_churn(self._prev_emb, x, k=min(10, len(x) - 1))
        if self._start_emb is None:
            self._start_emb = x
        row["drift_cka_start"] = metrics.drift_cka(self._start_emb, x)
        self._prev_emb = x
        self.evals.append(row)
        return row

    def _checkpoint(self) -> Path | None:
        """Write a checkpoint (main process only; every process waits for it)."""
        if self.out_dir is None:
            return None
        path = self.out_dir / "checkpoints" / f"checkpoint-{self.step:06d}"
        if self.acc.is_main_process:
            emb = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                   (("start_emb", self._start_emb), ("prev_emb", self._prev_emb)) if v is not None}
            state = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                     "rng": checkpoints.rng_state(), "extra": [m.state_dict() for m in self.extra], **emb}
            if self.acc.scaler is not None:  # fp16: the loss scale reached, so a resume skips the same steps
                state["scaler"] = self.acc.scaler.state_dict()
            meta = {"step": self.step, "config": self.cfg.to_dict(), "history": self.history, "evals": self.evals,
                    "name": self.name, "train_texts_sha256": self.train_hash,
                    "anchors_sha256": self.anchors.fingerprint(), "num_processes": self.acc.num_processes}
            checkpoints.save_checkpoint(path, self.unwrapped, state, meta, self.projector)
            checkpoints.prune(self.out_dir, self.cfg.keep_checkpoints)
        self.acc.wait_for_everyone()
        return path

    def resume(self, path: str | os.PathLike) -> None:
        """Load model (strictly), optimizer, scheduler, RNG and logs from a checkpoint folder.

        The checkpoint must come from the same config (progress and device aside) and training texts;
        that is checked before anything is loaded."""
        meta = checkpoints.read_meta(path)
        reason = self.cfg.mismatch(meta["config"], meta.get("train_texts_sha256"), self.train_hash)
        if reason is None and meta.get("anchors_sha256") != self.anchors.fingerprint():
            reason = "it was trained with other anchors"
        if reason is None and meta.get("num_processes", 1) != self.acc.num_processes:
            reason = (f"it was trained on {meta.get('num_processes', 1)} process(es), this run has "
                      f"{self.acc.num_processes} (another number of rows per step)")
        if reason is not None:
            raise ValueError(f"checkpoint {path}: {reason}; use another out_dir, or the same config, corpus "
                             "and number of processes")
        meta, state, projector = checkpoints.load_checkpoint(path, self.unwrapped)
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        for module, sd in zip(self.extra, state["extra"], strict=True):
            module.load_state_dict(sd)
        checkpoints.set_rng_state(state["rng"])
        if self.acc.scaler is not None and "scaler" in state:
            self.acc.scaler.load_state_dict(state["scaler"])
        self._start_emb = state["start_emb"].numpy() if "start_emb" in state else None
        self._prev_emb = state["prev_emb"].numpy() if "prev_emb" in state else None
        self.student.projector = projector
        self.step, self.history, self.evals = int(meta["step"]), list(meta["history"]), list(meta["evals"])

    def _micro_batches(self, loader_iter, step: int) -> list[dict]:
        """The step's micro-batches, with their cues prepended (hard cues) and their teacher rows."""
        out = []
        if self.cues.follows_student and self.projector is None and student_cue_share(self.cfg, step) > 0:
            self._fit_projector()  # on every process at the same step, whatever rows each one holds
        for _ in range(self.cfg.gradient_accumulation_steps):
            batch = next(loader_iter)
            cues = self.cues.batch_cues(step, batch, lambda use, b=batch: self._project(b, use))
            rows = batch.pop("row")
            batch.pop("cues", None)
            if cues is not None:
                batch = prepend_cues(batch, cues, self.tokenizer, padding_side="right", vocab_ids=self.cue_vocab)
            if self.kd is not None:
                batch["teacher"] = self.teacher_t[rows]
            out.append(batch)
        return out

    def _train_step(self, micro: list[dict]) -> tuple[float, float, float, int]:
        """Forward and backward of one optimizer step over its micro-batches (all processes).

        Returns the step's LM loss (mean over every text token of every micro-batch and process),
        its KD loss (mean over rows), the global gradient norm and the attended tokens."""
        cfg, acc = self.cfg, self.acc
        def count(b: dict) -> torch.Tensor:  # (scored positions, attended positions incl. soft cues)
            labels = self.cues.labels(b["labels"])
            extra = (labels.shape[1] - b["labels"].shape[1]) * labels.shape[0]
            return torch.stack([text_tokens(labels), b["attention_mask"].sum() + extra])

        counts = torch.stack([count(b) for b in micro]).sum(0).float()
        n_text, n_attended = acc.reduce(counts, "sum").tolist()
        scale = acc.num_processes / max(n_text, 1.0)  # DDP averages over processes: undo it for a token mean
        lm_total = kd_total = torch.zeros((), device=acc.device)
        for i, batch in enumerate(micro):
            sync = nullcontext() if i == len(micro) - 1 else acc.no_sync(self.objective)
            with sync:
                lm_sum, kd = self.objective(**batch)
                loss = lm_sum * scale + cfg.kd_weight * kd / len(micro)
                acc.backward(loss)
            lm_total, kd_total = lm_total + lm_sum.detach(), kd_total + kd.detach() / len(micro)
        lm_total, kd_total = acc.reduce(torch.stack([lm_total, kd_total]), "sum").tolist()
        return lm_total / max(n_text, 1.0), kd_total / acc.num_processes, self._grad_norm(), int(n_attended)

    def _grad_norm(self) -> float:
        """The global gradient norm (after the all-reduce; fp16: unscaled), clipped to
        ``clip_grad_norm`` when that is set; without clipping only measured, never rescaled."""
        if self.cfg.clip_grad_norm is not None:
            return float(self.acc.clip_grad_norm_(self.params, self.cfg.clip_grad_norm))
        self.acc.unscale_gradients()
        return float(torch.nn.utils.get_total_norm([p.grad for p in self.params if p.grad is not None]))

    # -- the loop ----------------------------------------------------------------------------
    def batches(self) -> Iterator[dict]:
        """The micro-batches of steps ``step + 1 .. cfg.steps``, tokenised once, placed on the device
        and shared across processes by ``accelerator.prepare``."""
        cfg = self.cfg
        return iter(self.acc.prepare(training_loader(
            self.dataset, self.pad_id, cfg.batch_size * self.acc.num_processes, cfg.gradient_accumulation_steps,
            cfg.seed, self.step + 1, cfg.steps)))

    def train_step(self, batches: Iterator[dict]) -> dict:
        """One optimizer step: its micro-batches and their cues (each row's from that row only),
        forward, loss, backward (no clipping unless asked) and, when everything is finite, the update.
        Returns the step's history row (``finite`` says whether the update happened)."""
        t0, step, acc = time.perf_counter(), self.step + 1, self.acc
        # the step's torch randomness (Gumbel noise of soft cues, any dropout) is a function of
        # (seed, step, process): a resumed run draws what an uninterrupted one draws, and processes
        # draw independently
        torch.manual_seed(int(np.random.SeedSequence([self.cfg.seed, step, acc.process_index]).generate_state(1)[0]))
        lr = float(self.sched.get_last_lr()[0])  # the rate this step uses
        lm_loss, kd_loss, grad_norm, tokens = self._train_step(self._micro_batches(batches, step))
        finite_loss = math.isfinite(lm_loss + kd_loss)
        # fp16: the gradient scaler skips a step whose gradients overflow, by design: not a divergence
        skipped = finite_loss and not math.isfinite(grad_norm) and acc.scaler is not None
        finite = finite_loss and (math.isfinite(grad_norm) or skipped)
        if finite:
            self.opt.step()  # a skipped step: the scaler lowers its scale and leaves the weights
            self.sched.step()
            self.step = step
        elif acc.scaler is not None:
            acc.scaler.update()  # close the unscale_ of this step
        self.opt.zero_grad()
        seconds = time.perf_counter() - t0
        return {"step": step, "loss": lm_loss, "kd_loss": kd_loss, "grad_norm": grad_norm, "lr": lr,
                "tokens_per_s": tokens / max(seconds, 1e-9), "student_cue_share": student_cue_share(self.cfg, step),
                "step_time_s": seconds, "skipped": skipped, "finite": finite}

    def fit(self, resume: bool = True, stop_at: int | None = None) -> Run:
        """Train to ``cfg.steps`` (resuming from the newest checkpoint when ``resume``).

        ``stop_at`` ends the call after that step as if the process were killed (for tests and
        for pausing); the run resumes from its last checkpoint. A run resumed at or past ``stop_at``
        stops before taking a step (its model is the checkpoint's).
        """
        cfg = self.cfg
        last_good = checkpoints.latest_checkpoint(self.out_dir) if self.out_dir is not None else None
        if resume and last_good is not None:
            self.resume(last_good)
        else:
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed)
            self._evaluate()
        every_ck = cfg.checkpoint_every or cfg.eval_every
        batches = self.batches()
        self.objective.train()
        bar = tqdm(total=cfg.steps, initial=self.step, desc=self.name, unit="step", leave=False,
                   disable=not cfg.progress or not self.acc.is_local_main_process)
        while self.step < cfg.steps:
            if stop_at is not None and self.step >= stop_at:  # checked first: a run resumed there stops at once
                self.status = "interrupted"
                break
            # 1. one step: batches and cues, forward, backward, update
            row = self.train_step(batches)
            self.history.append({k: v for k, v in row.items() if k != "finite"})
            step = row["step"]
            # 2. a non-finite step stops the run and keeps the last good checkpoint
            if not row["finite"]:
                self.status = "diverged"
                warnings.warn(f"{self.name}: loss or gradient norm became non-finite at step {step} "
                              f"(loss={row['loss']}, grad_norm={row['grad_norm']}); training stopped. "
                              f"Last good checkpoint: {last_good or 'none'}. Try a lower learning_rate or "
                              "clip_grad_norm=1.0.", RuntimeWarning, stacklevel=2)
                break
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.3f}", gnorm=f"{row['grad_norm']:.2f}")
            # 3. follow the student's projection, evaluate, checkpoint
            if step % cfg.eval_every == 0 or step == cfg.steps:
                if self.cues.follows_student:
                    self.update_projector()
                self._evaluate()
            if self.out_dir is not None and (step % every_ck == 0 or step == cfg.steps):
                last_good = self._checkpoint()
        bar.close()
        return self._finish()

    def _finish(self) -> Run:
        for hook in ("_grad_mask", "_input_hook"):  # the returned model trains like any other model
            if getattr(self, hook) is not None:
                getattr(self, hook).remove()
                setattr(self, hook, None)
        if self.status == "running":
            self.status = "finished"
        self.student.model = self.unwrapped
        if self.status == "finished" or self.cues.modules():
            self.update_projector()  # every finished run gets the projection step; soft cues: the router
        run = Run(config=self.cfg, student=self.student, history=pd.DataFrame(self.history),
                  evals=pd.DataFrame(self.evals), out_dir=self.out_dir, status=self.status, name=self.name,
                  meta={"train_texts_sha256": self.train_hash, "anchors_sha256": self.anchors.fingerprint(),
                        "num_processes": self.acc.num_processes})
        if self.out_dir is not None and self.status != "interrupted" and self.acc.is_main_process:
            save_run(run, self.out_dir)
        self.acc.wait_for_everyone()
        return run


def train(model, tokenizer, texts, teacher_embeddings, anchors: AnchorSet, config: TrainConfig | None = None,
          out_dir: str | os.PathLike | None = None, eval_set: EvalSet | None = None, name: str | None = None,
          resume: bool = True, stop_at: int | None = None) -> Run:
    """Train ``model`` on ``texts`` under ``config.condition`` and return the :class:`Run`.

    Args:
        texts: (n,) training sentences; teacher_embeddings: (n, d_t) their teacher rows.
        anchors: the anchor set (its K control tokens must be in ``tokenizer``).
        out_dir: where checkpoints and the final run go (None: nothing written, no resume).
        eval_set: probe set embedded every ``eval_every`` steps.
    """
    config = config or TrainConfig()
    name = name or f"{config.condition}-s{config.seed}"
    return Trainer(model, tokenizer, texts, teacher_embeddings, anchors, config, out_dir, eval_set, name).fit(
        resume=resume, stop_at=stop_at)
