"""What one training step minimises, as one ``nn.Module`` (docs/design.md, "training").

:class:`ECRObjective` holds the student, the distillation head (kd, ecr+kd) and the soft-cue router
(soft cues), so ``accelerator.prepare`` wraps all of them together: under several processes one
``DistributedDataParallel`` averages every gradient, and under mixed precision one autocast covers
every forward. The student inside stays a plain ``transformers`` model (``objective.model``).

Its forward returns the **sum** of the LM cross-entropy over the micro-batch's text tokens (the
labels that are not ``-100``: pads and cue positions never count) and the mean KD loss of its rows.
The loop divides the sum by the number of text tokens of the whole optimizer step, over every
micro-batch and process, so the gradient is the same whether a step runs as one batch, as several
accumulated micro-batches, or split across processes (up to float rounding).
"""

from __future__ import annotations

import torch

from .cue_sources import CueSource
from .distillation import EmbeddingDistillationLoss
from .pooling import masked_mean


class ECRObjective(torch.nn.Module):
    """LM loss on the text tokens (+ ``kd_weight`` x KD) of a causal LM under one cue strategy.

    Args:
        model: the ``transformers`` causal LM being trained.
        cue_source: the condition's cue strategy (soft cues turn ids into embeddings here).
        kd: the distillation loss module, or None. layer: hidden_states index pooled for KD.
    """

    def __init__(self, model, cue_source: CueSource, kd: EmbeddingDistillationLoss | None = None, layer: int = -1):
        super().__init__()
        self.model, self.kd, self.layer = model, kd, layer
        self.cue_modules = torch.nn.ModuleList(cue_source.modules())
        self.cue_source = cue_source

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                teacher: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids, mask and labels, (B, d_t) teacher rows -> (sum of text-token CE, mean KD loss)."""
        batch = self.cue_source.inputs(self.model, {"input_ids": input_ids, "attention_mask": attention_mask,
                                                    "labels": labels})
        labels = batch.pop("labels")
        out = self.model(**batch, output_hidden_states=self.kd is not None)
        # shift the labels, not the logits (as transformers does): slicing (B, L, V) logits would copy them
        shifted = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=-100)
        logits = out.logits.float()
        lm_sum = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), shifted.reshape(-1),
                                                   ignore_index=-100, reduction="sum")
        if self.kd is None:
            return lm_sum, torch.zeros((), device=lm_sum.device)
        pooled = masked_mean(out.hidden_states[self.layer], labels != -100)  # text tokens only
        return lm_sum, self.kd(pooled, teacher)


def text_tokens(labels: torch.Tensor) -> torch.Tensor:
    """How many positions a causal LM is scored on: labels (B, L) that are not -100 after the shift
    (the first text token counts only when cues precede it)."""
    return (labels[:, 1:] != -100).sum()
