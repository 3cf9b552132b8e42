"""One training loop for every condition, built on ``accelerate``.

Conditions (DESIGN.md §1):

=============== ==================================================================================
``baseline``    plain LM loss, no cues
``ecr``         ``[m cue tokens] + text``; LM loss on the text tokens only; no other loss term
``random_cues`` as ``ecr`` but the m cues are random anchors: does meaning help, or extra tokens?
``kd``          LM loss + embedding regression to the teacher through a linear head (conventional
                distillation; the head is dropped after training)
``ecr+kd``      both
=============== ==================================================================================

Cue source while training (``cue_source``): ``"teacher"`` (the offline assignment, default),
``"student"`` (the student's own projection, refitted at each evaluation), ``"schedule"`` (the
share of student cues ramps from 0 to 1 between two fractions of training, closing the
train/inference gap), or ``"soft"``: each of the m cue positions gets a Gumbel-softmax mix of the
cue-token embeddings, weighted by a trainable projection of the student's own mean token
embedding onto the anchors (initialised from a ridge fit to the teacher). The LM loss reaches the
projection and the token embeddings through the mix, so the loss itself shapes the student's
features toward the anchors, still with no auxiliary loss; at inference the same projection picks
hard top-m cues.

Which weights train (``trainable``): ``"all"`` (full fine-tuning, default) or ``"cues+top"``: only
the K cue-token rows of the embedding matrix and the top ``top_layers`` decoder layers (with the
final norm), plus the KD head and the soft-cue router when the condition has them; every other
weight stays exactly as it was (a pretrained student keeps what it knows). The cue rows train
through a gradient mask on the embedding matrix, so tied input/output embeddings work unchanged.

Gradient clipping is **off** by default (claim C3 is about training without it); set
``clip_grad_norm`` to turn it on. Every step logs loss, grad norm, learning rate, tokens/s and its wall time;
every ``eval_every`` steps the loop embeds a fixed probe set and logs the metrics of
:mod:`ecr_lab.metrics` (drift to the previous evaluation and to the start included).

Checkpoints hold the model (``save_pretrained``), the optimizer and scheduler, the RNG states, the
anchors and the fitted projector; they are written atomically. Batches are drawn from a generator
seeded by ``(seed, step)``, so a killed run resumed from its last checkpoint reaches the same
weights as an uninterrupted run with the same seed. The same code runs under
``accelerate launch`` on several GPUs (each process takes its slice of every batch).
"""

from __future__ import annotations

import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics
from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .anchors import AnchorSet, check_embeddings, check_m
from .control_tokens import ECRCollator, count_cue_tokens, cue_token_ids
from .projection import AnchorProjector

CONDITIONS = ("baseline", "ecr", "random_cues", "kd", "ecr+kd")
CUE_SOURCES = ("teacher", "student", "schedule", "soft")
TRAINABLE = ("all", "cues+top")
RUN_FORMAT = "ecr_lab.run"
CHECKPOINT_FORMAT = "ecr_lab.checkpoint"
FORMAT_VERSION = 1


class TrainingDiverged(RuntimeError):
    """The loss or gradient norm became NaN/inf."""


@dataclass
class TrainConfig:
    """Everything one training run needs to know. Defaults are the library's recommended setting."""

    condition: str = "ecr"
    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    #: None = no gradient clipping (default, see claim C3); a float clips the global norm
    clip_grad_norm: float | None = None
    m_cues: int = 2
    cue_source: str = "teacher"
    #: with cue_source="schedule": student-cue share ramps 0 -> 1 between these fractions of training
    schedule: tuple[float, float] = (0.3, 0.8)
    #: with cue_source="soft": temperature of the router's cosines and of the Gumbel-softmax mix
    soft_temperature: float = 0.1
    gumbel_tau: float = 1.0
    #: weight of the KD term (conditions kd and ecr+kd)
    kd_weight: float = 1.0
    max_length: int = 64
    eval_every: int = 50
    #: defaults to eval_every
    checkpoint_every: int | None = None
    keep_checkpoints: int = 2
    #: layer whose mean-pooled hidden states are the student embedding (metrics, KD)
    layer: int = -1
    #: projection method fitted after training ("ridge" | "procrustes" | "classifier"); the study
    #: (README) found the classifier on token features recovers the teacher's anchor most often
    projection: str = "classifier"
    #: student feature the projection reads: "tokens" (mean token embedding) or "hidden" (last layer)
    cue_feature: str = "tokens"
    #: which weights train: "all" (full fine-tuning) or "cues+top" (cue-token rows + top layers)
    trainable: str = "all"
    #: with trainable="cues+top": how many of the last decoder layers train (0 = cue rows only)
    top_layers: int = 2
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}; choose one of {CONDITIONS}")
        if self.cue_source not in CUE_SOURCES:
            raise ValueError(f"unknown cue_source {self.cue_source!r}; choose one of {CUE_SOURCES}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be >= 1")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ValueError(f"clip_grad_norm must be positive or None, got {self.clip_grad_norm}")
        self.schedule = tuple(self.schedule)
        from .projection import METHODS
        from .student import CUE_FEATURES

        if self.projection not in METHODS:
            raise ValueError(f"unknown projection {self.projection!r}; choose one of {METHODS}")
        if self.cue_feature not in CUE_FEATURES:
            raise ValueError(f"unknown cue_feature {self.cue_feature!r}; choose one of {CUE_FEATURES}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"unknown trainable {self.trainable!r}; choose one of {TRAINABLE}")
        if self.top_layers < 0:
            raise ValueError(f"top_layers must be >= 0, got {self.top_layers}")
        if self.cue_source == "soft" and self.cue_feature != "tokens":
            raise ValueError("soft cues need cue_feature='tokens' (the mix must be differentiable through one lookup)")

    @property
    def uses_cues(self) -> bool:
        return self.condition in ("ecr", "random_cues", "ecr+kd")

    @property
    def uses_kd(self) -> bool:
        return self.condition in ("kd", "ecr+kd")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Run:
    """A trained student and everything needed to evaluate or resume it."""

    config: TrainConfig
    model: torch.nn.Module
    tokenizer: object
    anchors: AnchorSet
    projector: AnchorProjector | None
    history: pd.DataFrame
    evals: pd.DataFrame
    out_dir: Path | None
    status: str = "finished"
    name: str = "run"
    meta: dict = field(default_factory=dict)

    @property
    def condition(self) -> str:
        return self.config.condition

    @property
    def seed(self) -> int:
        return self.config.seed

    def __repr__(self) -> str:
        return (f"Run({self.name!r}, condition={self.condition}, seed={self.seed}, steps={len(self.history)}, "
                f"status={self.status}, out_dir={str(self.out_dir) if self.out_dir else None})")


@dataclass
class EvalSet:
    """A fixed probe set embedded at every evaluation: texts with labels and teacher rows (n, d_t)."""

    corpus: object
    teacher_embeddings: np.ndarray


class KDHead(torch.nn.Module):
    """Linear map from the student's pooled hidden state to the teacher space (conditions kd, ecr+kd)."""

    def __init__(self, d_student: int, d_teacher: int):
        super().__init__()
        self.proj = torch.nn.Linear(d_student, d_teacher)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.proj(pooled)


class SoftCueRouter(torch.nn.Module):
    """Trainable projection step for soft cues: standardised mean token embedding (B, d_s) -> anchor
    logits (B, K) = cos(f W + b, anchors) / temperature. Initialised from a fitted ridge projector,
    turned back into one (:meth:`to_projector`) for hard cues at inference."""

    def __init__(self, projector: AnchorProjector, temperature: float):
        super().__init__()
        self.W = torch.nn.Parameter(torch.as_tensor(projector.W, dtype=torch.float32).clone())
        self.b = torch.nn.Parameter(torch.as_tensor(projector.mu_t, dtype=torch.float32).clone())
        self.register_buffer("mu_s", torch.as_tensor(projector.mu_s, dtype=torch.float32))
        self.register_buffer("sigma_s", torch.as_tensor(projector.sigma_s, dtype=torch.float32))
        self.register_buffer("anchors", torch.as_tensor(projector.anchors.vectors, dtype=torch.float32))
        self.temperature = temperature
        self._anchor_set = projector.anchors

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = ((features - self.mu_s) / self.sigma_s) @ self.W + self.b
        return torch.nn.functional.normalize(z, dim=-1) @ self.anchors.T / self.temperature

    def to_projector(self) -> AnchorProjector:
        p = AnchorProjector(self._anchor_set, method="ridge", temperature=self.temperature)
        p.W = self.W.detach().cpu().numpy().astype(np.float32)
        p.mu_t = self.b.detach().cpu().numpy().astype(np.float32)
        p.mu_s, p.sigma_s = self.mu_s.cpu().numpy(), self.sigma_s.cpu().numpy()
        return p


def decoder_layers(model) -> torch.nn.ModuleList:
    """The stack of transformer blocks of a causal LM (Llama/Mistral/Qwen ``model.layers``, GPT-2
    ``transformer.h``, GPT-NeoX ``layers``)."""
    base = getattr(model, "base_model", model)
    for name in ("layers", "h"):
        layers = getattr(base, name, None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}; use trainable='all'")


def _final_norm(model) -> torch.nn.Module | None:
    base = getattr(model, "base_model", model)
    return next((m for name in ("norm", "ln_f", "final_layer_norm") if (m := getattr(base, name, None)) is not None), None)


def select_trainable(model, cue_ids: torch.Tensor, trainable: str = "all", top_layers: int = 2):
    """Freeze what ``trainable`` does not train; returns (params with weight decay, params without, hook).

    ``"all"``: every parameter, with weight decay; no hook. ``"cues+top"``: the embedding matrix
    (V, h) gets a gradient hook that zeroes every row but ``cue_ids`` (K,) and no weight decay, so
    only the cue rows move; the last ``top_layers`` decoder layers and the final norm train with
    weight decay; everything else gets ``requires_grad=False``. Remove the returned hook handle
    when training ends (:meth:`Trainer.fit` does).
    """
    if trainable == "all":
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
        return params, [], None
    if trainable != "cues+top":
        raise ValueError(f"unknown trainable {trainable!r}; choose one of {TRAINABLE}")
    layers = decoder_layers(model)
    if top_layers > len(layers):
        raise ValueError(f"top_layers={top_layers} but the model has only {len(layers)} layers")
    for p in model.parameters():
        p.requires_grad_(False)
    emb = model.get_input_embeddings().weight
    emb.requires_grad_(True)
    mask = torch.zeros(emb.shape[0], 1, dtype=emb.dtype, device=emb.device)
    mask[cue_ids.to(emb.device)] = 1.0
    hook = emb.register_hook(lambda grad: grad * mask)
    top = [layers[i] for i in range(len(layers) - top_layers, len(layers))]
    norm = _final_norm(model) if top_layers else None
    decay = []
    for module in top + ([norm] if norm is not None else []):
        for p in module.parameters():
            p.requires_grad_(True)
            decay.append(p)
    return decay, [emb], hook


def _pool_text(hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean over text tokens (labels != -100 marks text, cues and pads excluded). (B, L, h) -> (B, h)."""
    w = (batch["labels"] != -100).unsqueeze(-1).to(hidden.dtype)
    return (hidden * w).sum(1) / w.sum(1).clamp(min=1)


def student_cue_share(cfg: TrainConfig, step: int) -> float:
    """Share of rows whose cues come from the student's projection at ``step`` (1-based)."""
    if cfg.cue_source == "teacher":
        return 0.0
    if cfg.cue_source == "student":
        return 1.0
    a, b = cfg.schedule
    frac = step / cfg.steps
    return float(np.clip((frac - a) / max(b - a, 1e-9), 0.0, 1.0))


def _ckpt_dirs(out_dir: Path) -> list[Path]:
    root = out_dir / "checkpoints"
    return sorted(root.glob("checkpoint-*")) if root.is_dir() else []


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    dirs = _ckpt_dirs(Path(out_dir))
    return dirs[-1] if dirs else None


def save_model(model, path: Path, tokenizer=None) -> None:
    """``save_pretrained`` without transformers' per-shard progress bar (noise in notebooks)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        if tokenizer is not None:
            tokenizer.save_pretrained(path)
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains one student under one condition. Use :func:`train` unless you need the pieces."""

    def __init__(self, model, tokenizer, texts, teacher_embeddings, anchors: AnchorSet, config: TrainConfig,
                 out_dir: str | os.PathLike | None = None, eval_set: EvalSet | None = None, name: str = "run"):
        from accelerate import Accelerator

        from .config import get_device

        self.cfg = config
        self.name = name
        self.texts = list(texts)
        if not self.texts:
            raise ValueError("no training texts: the corpus is empty")
        self.teacher = check_embeddings(teacher_embeddings, "teacher_embeddings", dim=anchors.dim)
        if len(self.teacher) != len(self.texts):
            raise ValueError(f"mismatched lengths: {len(self.texts)} texts but {len(self.teacher)} teacher rows")
        self.anchors = anchors
        check_m(config.m_cues, anchors.k)
        k_tok = count_cue_tokens(tokenizer)
        if k_tok != anchors.k:
            raise ValueError(
                f"the student's tokenizer has {k_tok} control tokens but the anchors K={anchors.k}; call "
                "control_tokens.extend_tokenizer(tokenizer, anchors) and extend_model(model, tokenizer) "
                "(ecr_lab.student.make_student does both)"
            )
        cue_token_ids(tokenizer, anchors.k)
        if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
            raise ValueError("the model's embedding matrix is smaller than the tokenizer; call control_tokens.extend_model(model, tokenizer)")
        self.tokenizer = tokenizer
        self.teacher_cues = anchors.assign(self.teacher, config.m_cues)[0]
        device = get_device(config.device)
        self.acc = Accelerator(cpu=device == "cpu")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.eval_set = eval_set
        hidden = model.config.hidden_size
        self.kd_head = KDHead(hidden, anchors.dim) if config.uses_kd else None
        self.router = None
        if config.uses_cues and config.cue_source == "soft":
            if getattr(tokenizer, "padding_side", "right") != "right":
                raise ValueError("soft cues are prepended as embeddings and need a right-padding tokenizer")
            from .student import token_features

            init = AnchorProjector(anchors).fit(token_features(model, tokenizer, self.texts, max_length=config.max_length),
                                                self.teacher)
            self.router = SoftCueRouter(init, config.soft_temperature)
        decay, no_decay, self._grad_mask = select_trainable(model, cue_token_ids(tokenizer, anchors.k),
                                                            config.trainable, config.top_layers)
        decay += list(self.kd_head.parameters()) if self.kd_head else []
        decay += list(self.router.parameters()) if self.router is not None else []
        params = decay + no_decay
        torch.manual_seed(config.seed)
        groups = [{"params": decay}] + ([{"params": no_decay, "weight_decay": 0.0}] if no_decay else [])
        opt = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
        from transformers import get_cosine_schedule_with_warmup

        sched = get_cosine_schedule_with_warmup(opt, min(config.warmup_steps, config.steps // 2), config.steps)
        extra = [m for m in (self.kd_head, self.router) if m is not None]
        prepared = self.acc.prepare(model, *extra, opt, sched)
        self.model, self.opt, self.sched = prepared[0], prepared[-2], prepared[-1]
        if self.kd_head is not None:
            self.kd_head = prepared[1]
        if self.router is not None:
            self.router = prepared[-3]
        self.cue_vocab = cue_token_ids(tokenizer, anchors.k)
        self.params = params
        self.projector: AnchorProjector | None = None
        self.collator = ECRCollator(tokenizer, max_length=config.max_length)
        self.step = 0
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self.status = "running"

    # -- pieces ------------------------------------------------------------------------------
    @property
    def unwrapped(self):
        return self.acc.unwrap_model(self.model)

    def _batch_indices(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.cfg.seed, step])
        n, b = len(self.texts), self.cfg.batch_size
        world = self.acc.num_processes
        idx = rng.choice(n, size=min(n, b * world), replace=b * world > n)
        return idx[self.acc.process_index :: world]

    def fit_projector(self, texts=None, teacher=None) -> AnchorProjector:
        """Fit the projection step on (student cue features, teacher rows) of the training set."""
        from .student import cue_features

        texts = self.texts if texts is None else texts
        teacher = self.teacher if teacher is None else teacher
        feats = cue_features(self.unwrapped, self.tokenizer, texts, self.cfg.cue_feature, max_length=self.cfg.max_length)
        self.projector = AnchorProjector(self.anchors, method=self.cfg.projection).fit(feats, teacher)
        return self.projector

    def _update_projector(self) -> AnchorProjector:
        """Soft cues: the trained router is the projection step; otherwise refit it on current features."""
        if self.router is not None:
            self.projector = self.acc.unwrap_model(self.router).to_projector()
            return self.projector
        return self.fit_projector()

    def _cues(self, step: int, idx: np.ndarray, texts: list[str]) -> np.ndarray | None:
        cfg = self.cfg
        if not cfg.uses_cues or self.router is not None:
            return None
        if cfg.condition == "random_cues":
            rng = np.random.default_rng([cfg.seed, step, 1])
            return rng.integers(self.anchors.k, size=(len(idx), cfg.m_cues))
        cues = self.teacher_cues[idx].copy()
        share = student_cue_share(cfg, step)
        if share > 0:
            from .student import cue_features

            if self.projector is None:
                self.fit_projector()
            rng = np.random.default_rng([cfg.seed, step, 2])
            use = rng.random(len(idx)) < share
            if use.any():
                feats = cue_features(self.unwrapped, self.tokenizer, [texts[i] for i in np.flatnonzero(use)],
                                     cfg.cue_feature, max_length=cfg.max_length)
                cues[use] = self.projector.cues(feats, cfg.m_cues)
        return cues

    def _soft_cue_inputs(self, batch: dict) -> dict:
        """Prepend m soft cue embeddings (Gumbel-softmax mixes of the cue-token rows, weighted by the
        router's scores of the batch's own mean token embedding): -> inputs_embeds batch, length L + m."""
        from .student import token_features_from_ids

        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        table = self.model.get_input_embeddings()
        logits = self.router(token_features_from_ids(self.model, ids, mask))  # (B, K)
        m = self.cfg.m_cues
        mix = torch.nn.functional.gumbel_softmax(logits.unsqueeze(1).expand(-1, m, -1), tau=self.cfg.gumbel_tau, dim=-1)
        cue_vecs = mix @ table.weight[self.cue_vocab.to(ids.device)]  # (B, m, h)
        ones = torch.ones(ids.shape[0], m, dtype=mask.dtype, device=ids.device)
        return {"inputs_embeds": torch.cat([cue_vecs, table(ids)], 1), "attention_mask": torch.cat([ones, mask], 1),
                "labels": torch.cat([torch.full_like(ones, -100, dtype=labels.dtype), labels], 1)}

    def _evaluate(self) -> dict:
        from .student import embed

        es = self.eval_set
        row: dict = {"step": self.step}
        x = embed(self.unwrapped, self.tokenizer, es.corpus.texts, layer=self.cfg.layer,
                  max_length=self.cfg.max_length, progress=False)
        row.update(metrics.geometry_report(x, es.corpus, es.teacher_embeddings, seed=self.cfg.seed))
        if self.out_dir is not None:
            import io

            from ._io import atomic_write_bytes

            buf = io.BytesIO()
            np.save(buf, x.astype(np.float32))
            atomic_write_bytes(self.out_dir / "embeddings" / f"step-{self.step:06d}.npy", buf.getvalue())
        if self._prev_emb is not None:
            row["drift_cka_prev"] = metrics.drift(self._prev_emb, x)["drift_cka"]
        if self._start_emb is not None:
            row["drift_cka_start"] = metrics.drift(self._start_emb, x)["drift_cka"]
        else:
            self._start_emb = x
            row["drift_cka_start"] = 0.0
        self._prev_emb = x
        self.evals.append(row)
        return row

    def _checkpoint(self) -> Path | None:
        if self.out_dir is None or not self.acc.is_main_process:
            return None
        path = self.out_dir / "checkpoints" / f"checkpoint-{self.step:06d}"
        with atomic_dir(path) as tmp:
            save_model(self.unwrapped, tmp / "model")
            state = {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(), "rng": _rng_state(),
                     "kd_head": self.acc.unwrap_model(self.kd_head).state_dict() if self.kd_head else None,
                     "router": self.acc.unwrap_model(self.router).state_dict() if self.router is not None else None,
                     "start_emb": self._start_emb, "prev_emb": self._prev_emb}
            torch.save(state, tmp / "trainer_state.pt")
            if self.projector is not None:
                self.projector.save(tmp / "projector")
            atomic_write_json(tmp / "state.json", {
                "format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "step": self.step,
                "config": self.cfg.to_dict(), "history": self.history, "evals": self.evals, "name": self.name,
            })
        for old in _ckpt_dirs(self.out_dir)[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    def resume(self, path: str | os.PathLike) -> None:
        """Load model, optimizer, scheduler, RNG and logs from a checkpoint folder."""
        from safetensors.torch import load_file

        path = Path(path)
        meta = read_json(path / "state.json", "checkpoint")
        check_format(meta, expected=CHECKPOINT_FORMAT, version=FORMAT_VERSION, path=path)
        saved = meta["config"]
        for key in ("condition", "seed", "batch_size", "m_cues", "cue_source", "trainable", "top_layers"):
            if saved.get(key, getattr(TrainConfig, key, None)) != getattr(self.cfg, key):
                raise ValueError(f"checkpoint {path} was trained with {key}={saved.get(key)!r}, this run has "
                                 f"{getattr(self.cfg, key)!r}; use another out_dir or the same config")
        weights = load_file(str(path / "model" / "model.safetensors"))
        missing, unexpected = self.unwrapped.load_state_dict(weights, strict=False)
        if unexpected or any("embed" in k or "layers" in k for k in missing):
            raise ValueError(f"checkpoint {path} does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        if getattr(self.unwrapped.config, "tie_word_embeddings", False):
            self.unwrapped.tie_weights()
        state = torch.load(path / "trainer_state.pt", weights_only=False)
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.kd_head is not None and state["kd_head"] is not None:
            self.acc.unwrap_model(self.kd_head).load_state_dict(state["kd_head"])
        if self.router is not None and state.get("router") is not None:
            self.acc.unwrap_model(self.router).load_state_dict(state["router"])
        _set_rng_state(state["rng"])
        self._start_emb, self._prev_emb = state["start_emb"], state["prev_emb"]
        if (path / "projector").is_dir():
            self.projector = AnchorProjector.load(path / "projector")
        self.step = int(meta["step"])
        self.history = list(meta["history"])
        self.evals = list(meta["evals"])

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, resume: bool = True, stop_at: int | None = None) -> Run:
        """Train to ``cfg.steps`` (resuming from the newest checkpoint when ``resume``).

        ``stop_at`` ends the call after that step as if the process were killed (for tests and
        for pausing); the run resumes from its last checkpoint.
        """
        cfg = self.cfg
        self._start_emb = self._prev_emb = None
        if resume and self.out_dir is not None and (ck := latest_checkpoint(self.out_dir)) is not None:
            self.resume(ck)
        else:
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed)
            if self.eval_set is not None:
                self._evaluate()
        every_ck = cfg.checkpoint_every or cfg.eval_every
        self.model.train()
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"{self.name}", unit="step",
                   disable=not cfg.progress, leave=False)
        last_good = latest_checkpoint(self.out_dir) if self.out_dir is not None else None
        while self.step < cfg.steps:
            step = self.step + 1
            t0 = time.perf_counter()
            idx = self._batch_indices(step)
            texts = [self.texts[i] for i in idx]
            cues = self._cues(step, idx, self.texts)
            feats = [{"text": t} if cues is None else {"text": t, "cues": c} for t, c in
                     zip(texts, cues if cues is not None else [None] * len(texts), strict=True)]
            batch = {k: v.to(self.acc.device) for k, v in self.collator(feats).items()}
            if self.router is not None:
                batch = self._soft_cue_inputs(batch)
            out = self.model(**batch, output_hidden_states=self.kd_head is not None)
            lm_loss = out.loss
            loss = lm_loss
            kd_loss = torch.zeros((), device=lm_loss.device)
            if self.kd_head is not None:
                pooled = _pool_text(out.hidden_states[cfg.layer], batch)
                target = torch.as_tensor(self.teacher[idx], device=pooled.device)
                kd_loss = (1 - torch.nn.functional.cosine_similarity(self.kd_head(pooled), target, dim=-1)).mean()
                loss = lm_loss + cfg.kd_weight * kd_loss
            finite = bool(torch.isfinite(loss))
            grad_norm = float("nan")
            if finite:
                self.acc.backward(loss)
                grad_norm = float(self.acc.clip_grad_norm_(self.params, cfg.clip_grad_norm or float("inf")))
                finite = math.isfinite(grad_norm)
            n_tok = int(batch["attention_mask"].sum())
            self.history.append({
                "step": step, "loss": float(lm_loss.detach()), "kd_loss": float(kd_loss.detach()),
                "grad_norm": grad_norm, "lr": float(self.sched.get_last_lr()[0]),
                "tokens_per_s": n_tok / max(time.perf_counter() - t0, 1e-9),
                "student_cue_share": student_cue_share(cfg, step) if cfg.uses_cues else 0.0,
            })
            if not finite:
                self.opt.zero_grad()
                self.status = "diverged"
                msg = (f"{self.name}: loss or gradient norm became non-finite at step {step} "
                       f"(loss={float(lm_loss.detach())}, grad_norm={grad_norm}); training stopped. "
                       f"Last good checkpoint: {last_good or 'none'}. Try a lower learning_rate or clip_grad_norm=1.0.")
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                break
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad()
            self.history[-1]["step_time_s"] = time.perf_counter() - t0
            self.step = step
            bar.update(1)
            bar.set_postfix(loss=f"{self.history[-1]['loss']:.3f}", gnorm=f"{grad_norm:.2f}")
            if self.eval_set is not None and (step % cfg.eval_every == 0 or step == cfg.steps):
                if cfg.cue_source != "teacher" and cfg.uses_cues:
                    self._update_projector()
                self._evaluate()
            if self.out_dir is not None and (step % every_ck == 0 or step == cfg.steps):
                last_good = self._checkpoint()
            if stop_at is not None and step >= stop_at and step < cfg.steps:
                self.status = "interrupted"
                break
        bar.close()
        if self._grad_mask is not None:  # the returned model trains like any other model
            self._grad_mask.remove()
            self._grad_mask = None
        if self.status == "running":
            self.status = "finished"
        if self.status == "finished":
            self._update_projector()  # every run gets the projection step, so agreement is comparable
        run = Run(config=cfg, model=self.unwrapped, tokenizer=self.tokenizer, anchors=self.anchors,
                  projector=self.projector, history=pd.DataFrame(self.history), evals=pd.DataFrame(self.evals),
                  out_dir=self.out_dir, status=self.status, name=self.name)
        if self.out_dir is not None and self.status != "interrupted" and self.acc.is_main_process:
            save_run(run, self.out_dir)
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


def save_run(run: Run, out_dir: str | os.PathLike) -> Path:
    """Write the final model, tokenizer, anchors + projector, logs and ``run.json`` (atomically)."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir / "final") as tmp:
        save_model(run.model, tmp / "model", run.tokenizer)
        run.anchors.save(tmp / "anchors", projector=run.projector if run.projector and run.projector.fitted else None)
        run.history.to_csv(tmp / "history.csv", index=False)
        run.evals.to_csv(tmp / "evals.csv", index=False)
        atomic_write_json(tmp / "run.json", {
            "format": RUN_FORMAT, "format_version": FORMAT_VERSION, "name": run.name, "status": run.status,
            "config": run.config.to_dict(), "meta": run.meta,
        })
    return out_dir / "final"


def load_run(out_dir: str | os.PathLike, device: str = "cpu") -> Run:
    """Load a run saved by :func:`train` (its ``final`` folder, or the folder itself)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .anchors import load_anchor_bundle

    out_dir = Path(out_dir)
    final = out_dir / "final" if (out_dir / "final").is_dir() else out_dir
    meta = read_json(final / "run.json", "run")
    check_format(meta, expected=RUN_FORMAT, version=FORMAT_VERSION, path=final)
    cfg_dict = dict(meta["config"])
    cfg = TrainConfig(**cfg_dict)
    tok = AutoTokenizer.from_pretrained(final / "model")
    model = AutoModelForCausalLM.from_pretrained(final / "model").to(device).eval()
    anchors, projector = load_anchor_bundle(final / "anchors")
    return Run(config=cfg, model=model, tokenizer=tok, anchors=anchors, projector=projector,
               history=pd.read_csv(final / "history.csv"), evals=_read_csv(final / "evals.csv"),
               out_dir=out_dir, status=meta["status"], name=meta["name"], meta=meta.get("meta", {}))


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
