"""Where a training batch's cues come from: one small interface, five strategies.

Every strategy answers :meth:`CueSource.batch_cues` for one tokenised batch (see
:mod:`ecr_lab.training_data`: its ``row`` numbers and teacher ``cues`` column). It is handed a
``project`` callable that returns the student's projected cues of the batch rows it selects, so the
cues of a row can only come from that row's own tokens. Random draws are made per corpus row from
a generator seeded by (seed, step), so a row gets the same cues whichever process or micro-batch
it lands in.

============ =====================================================================================
``none``     baseline and kd: no cues
``teacher``  the offline teacher assignment (top-m anchors of each row's teacher embedding)
``student``  the student's own projection (refitted at each evaluation)
``schedule`` teacher cues, then a growing share of student cues between two fractions of training
             (closes the train/inference gap)
``random``   random_cues: m random anchors per row (does meaning help, or just extra tokens?)
``soft``     a Gumbel-softmax mix of the cue-token embeddings at each of the m cue positions,
             weighted by a trainable projection (:class:`SoftCueRouter`) of the batch's mean token
             embedding; the LM loss shapes the projection, still with no auxiliary loss; at
             inference the router is turned into a hard top-m projector
============ =====================================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .projection import AnchorProjector
from .student import token_features_from_ids
from .training_config import TrainConfig

#: ``project(use)``: the student's projected cues (s, m) of the batch rows where ``use`` (B,) is True
Project = Callable[[torch.Tensor], torch.Tensor]


def student_cue_share(cfg: TrainConfig, step: int) -> float:
    """Share of rows whose hard cues come from the student's projection at ``step`` (1-based); 0 for
    conditions without cues, random cues and soft cues (their mix is logged by the router, not here)."""
    if not cfg.uses_cues or cfg.condition == "random_cues" or cfg.cue_source in ("teacher", "soft"):
        return 0.0
    if cfg.cue_source == "student":
        return 1.0
    a, b = cfg.schedule
    return float(np.clip((step / cfg.steps - a) / max(b - a, 1e-9), 0.0, 1.0))


def per_row(draw: np.ndarray, batch: dict) -> torch.Tensor:
    """The rows of a draw made for every corpus row (n, ...) that the batch holds: (B, ...), on its device."""
    return torch.from_numpy(draw[batch["row"].cpu().numpy()]).to(batch["row"].device)


class CueSource:
    """No cues (baseline, kd). Subclasses override :meth:`batch_cues` and, for soft cues, the rest."""

    #: True when the projector must follow the student during training (refit at evaluations)
    follows_student = False

    def batch_cues(self, step: int, batch: dict, project: Project) -> torch.Tensor | None:
        """(B, m) anchor ids for a batch with ``row`` (B,) and teacher ``cues`` (B, m), or None."""
        return None

    def modules(self) -> list[torch.nn.Module]:
        """Trainable modules of the strategy itself (the soft router), trained with the student."""
        return []

    def inputs(self, model, batch: dict) -> dict:
        """The model's inputs for a tokenised batch (soft cues replace ids by embeddings)."""
        return batch

    def labels(self, labels: torch.Tensor) -> torch.Tensor:
        """The labels the model is scored on, (B, L) -> (B, L'): soft cues add m ``-100`` in front."""
        return labels


class TeacherCues(CueSource):
    """Teacher cues, with a share of student cues that follows ``student_cue_share`` (student, schedule)."""

    def __init__(self, cfg: TrainConfig, n_rows: int):
        self.cfg, self.n_rows = cfg, n_rows
        self.follows_student = cfg.cue_source != "teacher"

    def batch_cues(self, step, batch, project):
        cues = batch["cues"].clone()
        share = student_cue_share(self.cfg, step)
        if share > 0:
            use = per_row(np.random.default_rng([self.cfg.seed, step, 2]).random(self.n_rows), batch) < share
            if use.any():
                cues[use] = project(use).to(cues.dtype)
        return cues


class RandomCues(CueSource):
    """m random anchors per row, drawn for every corpus row from a generator seeded by (seed, step)."""

    def __init__(self, cfg: TrainConfig, k: int, n_rows: int):
        self.cfg, self.k, self.n_rows = cfg, k, n_rows

    def batch_cues(self, step, batch, project):
        return per_row(np.random.default_rng([self.cfg.seed, step, 1]).integers(self.k, size=(self.n_rows, self.cfg.m_cues)),
                       batch)


class SoftCueRouter(torch.nn.Module):
    """Trainable projection step for soft cues: mean token embedding (B, d_s) -> anchor logits (B, K)
    = cos(standardised f @ W + b, anchors) / temperature. Initialised from a fitted ridge projector,
    turned back into one (:meth:`to_projector`) for hard cues at inference."""

    def __init__(self, projector: AnchorProjector, temperature: float):
        super().__init__()
        self.W = torch.nn.Parameter(torch.as_tensor(projector.W_, dtype=torch.float32).clone())
        self.b = torch.nn.Parameter(torch.as_tensor(projector.mu_t_, dtype=torch.float32).clone())
        self.register_buffer("mu_s", torch.as_tensor(projector.mu_s_, dtype=torch.float32))
        self.register_buffer("sigma_s", torch.as_tensor(projector.sigma_s_, dtype=torch.float32))
        self.register_buffer("anchors", torch.as_tensor(projector.anchors.vectors, dtype=torch.float32))
        self.temperature = temperature
        self.anchor_set = projector.anchors

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = ((features - self.mu_s) / self.sigma_s) @ self.W + self.b
        return torch.nn.functional.normalize(z, dim=-1) @ self.anchors.T / self.temperature

    def to_projector(self) -> AnchorProjector:
        """The trained router as a ridge-type projector (a linear map into the teacher space)."""
        p = AnchorProjector(self.anchor_set, method="ridge", temperature=self.temperature)
        p.W_ = self.W.detach().cpu().numpy().astype(np.float32)
        p.mu_t_ = self.b.detach().cpu().numpy().astype(np.float32)
        p.mu_s_, p.sigma_s_ = self.mu_s.cpu().numpy(), self.sigma_s.cpu().numpy()
        return p


class SoftCues(CueSource):
    """m soft cue embeddings (Gumbel-softmax mixes of the cue-token rows) prepended as embeddings."""

    def __init__(self, cfg: TrainConfig, router: SoftCueRouter, cue_vocab: torch.Tensor):
        self.cfg, self.router, self.cue_vocab = cfg, router, cue_vocab

    def modules(self):
        return [self.router]

    def inputs(self, model, batch):
        """(B, L) ids -> inputs_embeds (B, m + L, h), with mask and labels (-100 on cues) to match."""
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        table = model.get_input_embeddings()
        logits = self.router(token_features_from_ids(model, ids, mask))  # (B, K)
        m = self.cfg.m_cues
        mix = torch.nn.functional.gumbel_softmax(logits.unsqueeze(1).expand(-1, m, -1), tau=self.cfg.gumbel_tau, dim=-1)
        cue_vecs = mix @ table.weight[self.cue_vocab.to(ids.device)]  # (B, m, h)
        ones = torch.ones(ids.shape[0], m, dtype=mask.dtype, device=ids.device)
        return {"inputs_embeds": torch.cat([cue_vecs, table(ids)], 1), "attention_mask": torch.cat([ones, mask], 1),
                "labels": self.labels(labels)}

    def labels(self, labels):
        return torch.cat([torch.full((labels.shape[0], self.cfg.m_cues), -100, dtype=labels.dtype,
                                     device=labels.device), labels], 1)


def make_cue_source(cfg: TrainConfig, n_rows: int, k: int, cue_vocab: torch.Tensor,
                    ridge_init: Callable[[], AnchorProjector]) -> CueSource:
    """The strategy of ``cfg`` (condition and cue_source) for a training set of ``n_rows`` rows.
    ``ridge_init()`` fits the soft router's start."""
    if not cfg.uses_cues:
        return CueSource()
    if cfg.condition == "random_cues":
        return RandomCues(cfg, k, n_rows)
    if cfg.cue_source == "soft":
        return SoftCues(cfg, SoftCueRouter(ridge_init(), cfg.soft_temperature), cue_vocab)
    return TeacherCues(cfg, n_rows)
