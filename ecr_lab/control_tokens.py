"""Control tokens: how ECR talks to the compact model.

Each anchor ``i`` gets a discrete token ``<ecr_i>``. A training or inference example becomes::

    [<ecr_a1> ... <ecr_am>] + text tokens

The cue tokens are **prepended** (after any left padding, before the first real token), the
attention mask covers them, and their labels are ``-100``, so the ordinary LM loss is computed on
the text tokens only: plain ECR adds no loss term.

- :func:`extend_tokenizer` adds ``<ecr_0> ... <ecr_{K-1}>`` as special tokens (never split, never
  merged with text) to any Hugging Face tokenizer.
- :func:`extend_model` resizes the model's embedding matrix to the new vocabulary
  (``resize_token_embeddings``) and initialises the new rows: ``"default"`` (mean of the existing
  embeddings, the transformers default) or ``"anchors"`` (anchor vectors mapped into the student's
  embedding space).
- :func:`prepend_cues` edits a tokenised batch; :class:`ECRCollator` tokenises, pads and prepends
  per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

CUE_PREFIX = "<ecr_"
IGNORE_INDEX = -100


def cue_token(i: int) -> str:
    """The control token of anchor ``i``: ``<ecr_i>``."""
    return f"{CUE_PREFIX}{int(i)}>"


def cue_vocabulary(k: int) -> list[str]:
    """``["<ecr_0>", ..., "<ecr_{k-1}>"]``."""
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    return [cue_token(i) for i in range(k)]


def _k_of(anchors_or_k) -> int:
    return int(anchors_or_k) if isinstance(anchors_or_k, (int, np.integer)) else int(anchors_or_k.k)


def extend_tokenizer(tokenizer, anchors_or_k) -> int:
    """Add the K control tokens to ``tokenizer`` as special tokens (in place). Returns how many were new.

    Calling it twice adds nothing the second time.
    """
    return int(tokenizer.add_tokens(cue_vocabulary(_k_of(anchors_or_k)), special_tokens=True))


def _token_id(tokenizer, token: str) -> int | None:
    """Id of ``token`` in the vocabulary, or None (no fallback to the unknown token)."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or (tid == tokenizer.unk_token_id and token != tokenizer.unk_token):
        return None
    return int(tid)


def cue_token_ids(tokenizer, k: int) -> torch.Tensor:
    """Vocabulary ids of ``<ecr_0> ... <ecr_{k-1}>``, shape (k,). Clear error if any is missing.

    Looks up the K tokens one by one (microseconds), never the whole vocabulary.
    """
    ids = [_token_id(tokenizer, t) for t in cue_vocabulary(k)]
    missing = [cue_token(i) for i, t in enumerate(ids) if t is None]
    if missing:
        raise ValueError(
            f"the tokenizer lacks {len(missing)} of the {k} control tokens (first: {missing[0]}); "
            "call ecr_lab.control_tokens.extend_tokenizer(tokenizer, anchors) and extend_model(model, tokenizer)"
        )
    return torch.tensor(ids, dtype=torch.long)


def count_cue_tokens(tokenizer) -> int:
    """How many ``<ecr_i>`` tokens the tokenizer holds (K after :func:`extend_tokenizer`): the
    length of the run ``<ecr_0>, <ecr_1>, ...`` present in the vocabulary."""
    k = 0
    while _token_id(tokenizer, cue_token(k)) is not None:
        k += 1
    return k


def extend_model(model, tokenizer, init: str = "default", anchors=None, projector=None, seed: int = 0):
    """Resize ``model``'s token embeddings to ``len(tokenizer)`` and initialise the cue rows.

    Args:
        init: ``"default"`` (the new rows are the mean of the old ones, as transformers does) or
            ``"anchors"``: anchor vectors (K, d_t) are mapped into the embedding space (d_e) by the
            pseudo-inverse of a fitted ``projector``'s map when it is given (and its input is the
            embedding space), else by a fixed random projection (``seed``), then scaled to the
            mean norm of the existing embeddings.
    Returns:
        the model (resized in place).
    """
    if init not in ("default", "anchors"):
        raise ValueError(f"init must be 'default' or 'anchors', got {init!r}")
    k = count_cue_tokens(tokenizer)
    ids = cue_token_ids(tokenizer, k)
    old_n = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old_n:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    if init == "anchors":
        if anchors is None:
            raise ValueError("init='anchors' needs anchors=AnchorSet")
        if anchors.k != k:
            raise ValueError(f"the tokenizer has {k} cue tokens but the anchors K={anchors.k}; extend the tokenizer with these anchors")
        emb = model.get_input_embeddings().weight
        d_e = emb.shape[1]
        a = anchors.vectors.astype(np.float64)  # (K, d_t)
        if projector is not None and projector.fitted and projector.method != "classifier" and projector.in_dim == d_e:
            mapped = (a - projector.mu_t_) @ np.linalg.pinv(projector.W_.astype(np.float64))  # (K, d_s)
            mapped = mapped * projector.sigma_s_ + projector.mu_s_
        else:
            rng = np.random.default_rng(seed)
            mapped = a @ rng.standard_normal((a.shape[1], d_e)) / np.sqrt(a.shape[1])
        with torch.no_grad():
            keep = torch.ones(emb.shape[0], dtype=torch.bool)
            keep[ids] = False
            target = emb[keep].norm(dim=1).mean().item()
            m = torch.as_tensor(mapped, dtype=emb.dtype, device=emb.device)
            emb[ids.to(emb.device)] = m / m.norm(dim=1, keepdim=True).clamp(min=1e-8) * target
    return model


def _as_cue_tensor(cue_ids, k: int, batch: int) -> torch.Tensor:
    c = cue_ids.long() if isinstance(cue_ids, torch.Tensor) else torch.as_tensor(np.asarray(cue_ids), dtype=torch.long)
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] != batch:
        raise ValueError(f"cue_ids must have shape (batch={batch}, m); got {tuple(c.shape)}")
    if c.numel() and (c.min() < 0 or c.max() >= k):
        raise ValueError(f"cue ids must be anchor ids in [0, K={k}); got values in [{int(c.min())}, {int(c.max())}]")
    return c


def prepend_cues(
    batch: Mapping[str, torch.Tensor], cue_ids, tokenizer, padding_side: str | None = None,
    vocab_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Prepend cue tokens to a tokenised batch.

    Args:
        batch: ``input_ids`` (B, L), ``attention_mask`` (B, L), optional ``labels`` (B, L).
        cue_ids: anchor ids (B, m) in [0, K) (not vocabulary ids).
        tokenizer: holds the control tokens; its ``padding_side`` is used unless given.
        vocab_ids: the K cue tokens' vocabulary ids (:func:`cue_token_ids`), when the caller keeps
            them (the training loop, :class:`~ecr_lab.ecr_model.ECRModel`): saves 2K vocabulary
            lookups per call, which at batch 1 cost as much as the cue tokens themselves.

    Returns:
        a new batch of length L + m: with right padding the cues open every row; with left padding
        they sit right after the pads, just before the first real token. The attention mask is 1 on
        cues; ``labels`` (when present) is ``-100`` on cues.
    """
    side = padding_side or getattr(tokenizer, "padding_side", "right")
    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    bsz, length = ids.shape
    if vocab_ids is None:
        vocab_ids = cue_token_ids(tokenizer, count_cue_tokens(tokenizer))
    cues = _as_cue_tensor(cue_ids, len(vocab_ids), bsz)
    m = cues.shape[1]
    cue_tok = vocab_ids.to(ids.device)[cues.to(ids.device)]  # (B, m)
    if side == "right":  # the cues open every row: three concatenations (the inference path at batch 1)
        result = dict(batch)
        result["input_ids"] = torch.cat([cue_tok.to(ids.dtype), ids], 1)
        result["attention_mask"] = torch.cat([torch.ones_like(cue_tok, dtype=mask.dtype), mask], 1)
        if "labels" in batch and batch["labels"] is not None:
            labels = batch["labels"]
            result["labels"] = torch.cat([torch.full_like(cue_tok, IGNORE_INDEX, dtype=labels.dtype), labels], 1)
        return result
    # left padding: the cues go right after each row's pads; every token after them moves by m
    start = length - mask.sum(1)  # number of left pads per row
    cols = torch.arange(length, device=ids.device).expand(bsz, length)
    shift = torch.where(cols >= start[:, None], cols + m, cols)  # tokens after the pads move by m
    cue_cols = start[:, None] + torch.arange(m, device=ids.device)  # (B, m)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def place(src: torch.Tensor, cue_val: torch.Tensor, fill) -> torch.Tensor:
        out = torch.full((bsz, length + m), fill, dtype=src.dtype, device=src.device)
        out.scatter_(1, shift, src)
        out.scatter_(1, cue_cols, cue_val.to(src.dtype))
        return out

    result = dict(batch)
    result["input_ids"] = place(ids, cue_tok, pad_id)
    result["attention_mask"] = place(mask, torch.ones_like(cue_tok), 0)
    if "labels" in batch and batch["labels"] is not None:
        result["labels"] = place(batch["labels"], torch.full_like(cue_tok, IGNORE_INDEX), IGNORE_INDEX)
    return result


@dataclass
class ECRCollator:
    """Tokenise, pad, label and prepend cues, per batch.

    Each feature is a dict with ``text`` and ``cues`` (a list of m anchor ids; omit ``cues`` or pass
    ``m=0`` for the baseline). ``labels`` are the input ids with ``-100`` on pads and cues.
    """

    tokenizer: object
    max_length: int = 64
    m: int | None = None
    cue_fn: Callable[[Sequence[str]], np.ndarray] | None = None

    def __call__(self, features: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        texts = [f["text"] for f in features]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = IGNORE_INDEX
        batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
        if self.m == 0:
            return batch
        if self.cue_fn is not None:
            cues = np.asarray(self.cue_fn(texts))
        elif all("cues" in f for f in features):
            cues = np.asarray([list(f["cues"]) for f in features])
        else:
            return batch
        if self.m is not None:
            cues = cues[:, : self.m]
        return prepend_cues(batch, cues, self.tokenizer)
