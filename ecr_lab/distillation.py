"""Conventional distillation, as a loss module (the way sentence-transformers writes ``MSELoss``).

Conditions ``kd`` and ``ecr+kd`` add this term to the LM loss; ECR itself adds none.

======================== =============================================================
input                    shape
======================== =============================================================
``pooled``               (B, h): the student's mean hidden state over the text tokens
``teacher_embeddings``   (B, d_t): the teacher rows of the same texts
returns                  scalar: mean over rows of 1 - cos(head(pooled), teacher)
======================== =============================================================

The linear head ``h -> d_t`` is trained with the student and dropped afterwards.
"""

from __future__ import annotations

import torch


class EmbeddingDistillationLoss(torch.nn.Module):
    """1 - cosine between a linear map of the student's pooled state and the teacher's embedding."""

    def __init__(self, d_student: int, d_teacher: int):
        super().__init__()
        self.head = torch.nn.Linear(d_student, d_teacher)

    def forward(self, pooled: torch.Tensor, teacher_embeddings: torch.Tensor) -> torch.Tensor:
        pred = self.head(pooled)
        return (1 - torch.nn.functional.cosine_similarity(pred, teacher_embeddings.to(pred.dtype), dim=-1)).mean()
