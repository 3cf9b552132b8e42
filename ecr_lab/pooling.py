"""Masked mean pooling, written once: sentence vectors from token vectors.

The student embedding (:func:`ecr_lab.student.embed`), the cheap token feature of the projection
step, the KD target's pooled state and the transformers teacher all average token vectors over the
positions a mask marks (text tokens, never pads or cue tokens), the way sentence-transformers'
``Pooling`` module does it.
"""

from __future__ import annotations

import torch


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``tokens`` (B, L, h) over the positions where ``mask`` (B, L) is non-zero -> (B, h).

    A row with an empty mask gives zeros (not NaN).
    """
    if tokens.shape[:2] != mask.shape:
        raise ValueError(f"mask {tuple(mask.shape)} does not match tokens {tuple(tokens.shape[:2])}")
    w = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * w).sum(1) / w.sum(1).clamp(min=1)
