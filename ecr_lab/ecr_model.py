"""One object a user holds: a trained ECR student with everything it needs at inference.

The way sentence-transformers' ``SentenceTransformer`` is one object, :class:`ECRModel` bundles

- a ``transformers`` causal LM and its tokenizer, the K control tokens ``<ecr_i>`` included;
- the :class:`~ecr_lab.anchors.AnchorSet` (K, d_t) the cue tokens stand for;
- the projection step (:class:`~ecr_lab.projection.AnchorProjector`) that picks cues from the
  student's own feature, and the settings that read it (m, feature, layer, max length).

>>> ecr = ECRModel.from_pretrained("ecr_runs/full5/runs/micro-ecr+kd-s0/final")   # doctest: +SKIP
>>> ecr.cues(["Il pleut depuis ce matin."])                  # (1, m) anchor ids   # doctest: +SKIP
>>> ecr.encode(["Il pleut depuis ce matin."], cues="projected").shape             # doctest: +SKIP
(1, 96)

``save_pretrained(dir)`` writes one folder (``model/`` as transformers writes it, ``anchors/`` with
the projector, ``ecr_model.json`` with a format version); ``from_pretrained(dir)`` reads it back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .anchors import AnchorSet, check_m
from .control_tokens import count_cue_tokens, cue_token_ids, prepend_cues
from .projection import AnchorProjector, load_bundle
from .student import cue_features, cue_features_from_ids, embed, save_model

FORMAT = "ecr_lab.ecr_model"
FORMAT_VERSION = 1
CUE_MODES = (None, "projected", "teacher")


class ECRModel:
    """A compact causal LM conditioned by ECR cue tokens.

    Args:
        model: a ``transformers`` causal LM whose vocabulary holds the K cue tokens.
        tokenizer: its tokenizer, with ``<ecr_0> ... <ecr_{K-1}>``.
        anchors: the K anchors.
        projector: the fitted projection step (None: only cue-free and teacher cues work).
        m: cue tokens per input. cue_feature: "tokens" | "hidden" (what the projector reads).
        layer: hidden_states index pooled by :meth:`encode`. max_length: tokens per text.
    """

    def __init__(self, model, tokenizer, anchors: AnchorSet, projector: AnchorProjector | None = None, *,
                 m: int = 2, cue_feature: str = "tokens", layer: int = -1, max_length: int = 64):
        k_tok = count_cue_tokens(tokenizer)
        if k_tok != anchors.k:
            raise ValueError(f"the tokenizer has {k_tok} control tokens but the anchors K={anchors.k}; call "
                             "control_tokens.extend_tokenizer(tokenizer, anchors) and extend_model(model, tokenizer)")
        if projector is not None and projector.anchors.k != anchors.k:
            raise ValueError(f"the projector scores K={projector.anchors.k} anchors but the model has K={anchors.k}")
        check_m(m, anchors.k)
        self.model, self.tokenizer, self.anchors, self.projector = model, tokenizer, anchors, projector
        self.m, self.cue_feature, self.layer, self.max_length = int(m), cue_feature, int(layer), int(max_length)
        self.cue_vocab = cue_token_ids(tokenizer, anchors.k)  # (K,) vocabulary ids of <ecr_0..K-1>
        self._teacher = None

    def __repr__(self) -> str:
        return (f"ECRModel({type(self.model).__name__}, K={self.anchors.k}, m={self.m}, feature={self.cue_feature!r}, "
                f"projector={self.projector.method if self.projector is not None else None})")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- the projection step -------------------------------------------------------------------
    def cue_features(self, texts: Sequence[str]) -> np.ndarray:
        """The student feature the projection step reads. (n,) -> (n, hidden)."""
        return cue_features(self.model, self.tokenizer, list(texts), self.cue_feature, max_length=self.max_length)

    def fit_projector(self, texts: Sequence[str], teacher_embeddings: np.ndarray, method: str = "classifier"
                      ) -> AnchorProjector:
        """Fit (and keep) the projection step on paired rows: (n,) texts, (n, d_t) teacher rows."""
        self.projector = AnchorProjector(self.anchors, method=method).fit(self.cue_features(texts), teacher_embeddings)
        return self.projector

    def _check_projector(self) -> None:
        if self.projector is None or not self.projector.fitted:
            raise ValueError("this ECRModel has no fitted projection step; call fit_projector(texts, teacher_embeddings)")

    def cues(self, texts: Sequence[str], m: int | None = None) -> np.ndarray:
        """Top-m anchors the projection step picks for each text, best first. (n,) -> (n, m) int64."""
        self._check_projector()
        return self.projector.cues(self.cue_features(texts), m or self.m)

    @torch.no_grad()
    def cues_from_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, m: int | None = None
                      ) -> torch.Tensor:
        """:meth:`cues` of an already tokenised, cue-free batch, in torch on its device: (B, L) -> (B, m).

        What the training loop calls (its batches are tokenised once, never per step)."""
        self._check_projector()
        toggle = self.model.training and self.cue_feature == "hidden"  # a forward pass: no dropout in it
        if toggle:
            self.model.eval()
        try:
            feats = cue_features_from_ids(self.model, input_ids, attention_mask, self.cue_feature)
        finally:
            if toggle:
                self.model.train()
        return self.projector.cues_torch(feats.float(), m or self.m)

    def with_projected_cues(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """ECR at inference on a tokenised, right-padded, cue-free batch: (B, L) ids and mask ->
        (B, m + L) with the projection step's cues in front (feature, projection, top-m, prepend:
        all in torch, on the batch's device, no re-tokenising)."""
        cues = self.cues_from_ids(batch["input_ids"], batch["attention_mask"])
        return prepend_cues(batch, cues, self.tokenizer, padding_side="right", vocab_ids=self.cue_vocab)

    def teacher_cues(self, texts: Sequence[str], teacher_embeddings: np.ndarray | None = None) -> np.ndarray:
        """Top-m anchors of the teacher's rows (given, or encoded with the anchors' teacher). (n,) -> (n, m)."""
        if teacher_embeddings is None:
            from .teacher import get_teacher

            self._teacher = self._teacher or get_teacher(self.anchors.teacher)
            teacher_embeddings = self._teacher.encode(list(texts))
        if len(teacher_embeddings) != len(texts):
            raise ValueError(f"mismatched lengths: {len(texts)} texts but {len(teacher_embeddings)} teacher rows")
        return self.anchors.assign(teacher_embeddings, self.m)[0]

    def _resolve_cues(self, texts: Sequence[str], cues, teacher_embeddings) -> np.ndarray | None:
        if cues is None or isinstance(cues, np.ndarray):
            return cues
        if cues == "projected":
            return self.cues(texts)
        if cues == "teacher":
            return self.teacher_cues(texts, teacher_embeddings)
        raise ValueError(f"cues must be one of {CUE_MODES} or an (n, m) array of anchor ids, got {cues!r}")

    # -- what users call -------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], cues=None, teacher_embeddings: np.ndarray | None = None,
               batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Sentence embeddings: mean hidden state of ``layer`` over the text tokens. (n,) -> (n, hidden).

        ``cues``: None (cue-free), ``"projected"`` (ECR at inference: the projection step picks them),
        ``"teacher"`` (the oracle: the teacher's anchors; ``teacher_embeddings`` (n, d_t) or the
        anchors' teacher is called), or an (n, m) array of anchor ids. Cue positions are excluded
        from the mean, so every view is comparable with the cue-free one.
        """
        texts = list(texts)
        ids = self._resolve_cues(texts, cues, teacher_embeddings)
        return embed(self.model, self.tokenizer, texts, layer=self.layer, cues=ids, batch_size=batch_size,
                     max_length=self.max_length, progress=progress)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], cues="projected", max_new_tokens: int = 32,
                 **generate_kwargs) -> list[str]:
        """Continue each prompt with the cue tokens prepended (greedy unless ``generate_kwargs`` say
        otherwise). Returns the new text of each prompt, special tokens removed."""
        prompts = list(prompts)
        ids = self._resolve_cues(prompts, cues, None)
        batch = self.generation_inputs(prompts, ids)
        was_training = self.model.training
        self.model.eval()
        try:
            kwargs = {"do_sample": False, "pad_token_id": self.tokenizer.pad_token_id, **generate_kwargs}
            out = self.model.generate(**batch, max_new_tokens=max_new_tokens, **kwargs)
        finally:
            self.model.train(was_training)
        return self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    def generation_inputs(self, prompts: Sequence[str], cue_ids: np.ndarray | None) -> dict[str, torch.Tensor]:
        """Left-padded, left-truncated batch (a decoder continues from the right end of each prompt),
        with ``cue_ids`` (n, m) placed right after the pads, before the first prompt token."""
        side, trunc = self.tokenizer.padding_side, self.tokenizer.truncation_side
        self.tokenizer.padding_side, self.tokenizer.truncation_side = "left", "left"
        try:
            batch = self.tokenizer(list(prompts), padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt")
        finally:
            self.tokenizer.padding_side, self.tokenizer.truncation_side = side, trunc
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return batch if cue_ids is None else prepend_cues(batch, cue_ids, self.tokenizer, padding_side="left",
                                                          vocab_ids=self.cue_vocab)

    # -- persistence -----------------------------------------------------------------------------
    def write_into(self, folder: Path) -> None:
        """Write ``model/``, ``anchors/`` and ``ecr_model.json`` into an existing ``folder``."""
        folder = Path(folder)
        save_model(self.model, folder / "model", self.tokenizer)
        if self.projector is not None and self.projector.fitted:
            self.projector.save(folder / "anchors")
        else:
            self.anchors.save(folder / "anchors")
        atomic_write_json(folder / "ecr_model.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, "k": self.anchors.k, "m": self.m,
            "cue_feature": self.cue_feature, "layer": self.layer, "max_length": self.max_length,
        })

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Save everything in one folder, atomically (a crash never leaves half a model)."""
        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            self.write_into(tmp)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str = "cpu") -> ECRModel:
        """Load a folder written by :meth:`save_pretrained` (or a run's ``final`` folder)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory = Path(directory)
        meta = read_json(directory / "ecr_model.json", "ECR model")
        check_format(meta, expected=FORMAT, version=FORMAT_VERSION, path=directory)
        tok = AutoTokenizer.from_pretrained(directory / "model")
        model = AutoModelForCausalLM.from_pretrained(directory / "model").to(device).eval()
        anchors, projector = load_bundle(directory / "anchors")
        if anchors.k != meta["k"]:
            raise ValueError(f"{directory}: ecr_model.json says K={meta['k']} but the anchors hold {anchors.k}; "
                             "the folder is corrupt, save it again")
        return cls(model, tok, anchors, projector, m=meta["m"], cue_feature=meta["cue_feature"], layer=meta["layer"],
                   max_length=meta["max_length"])
