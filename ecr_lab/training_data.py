"""The training set, tokenised once (docs/design.md, "training"): what the loop reads at every step.

The way the Hugging Face course prepares a causal-LM set (``dataset.map(tokenize, batched=True)``,
then a ``DataLoader`` with a padding collator), with two ECR additions:

- each row keeps its ``row`` number (to find its teacher embedding for distillation, and its
  per-row random draws) and, for conditions with cues, its teacher cue ids as a column ``cues``
  (B, m); cues picked by the student during training replace them on the fly;
- batches come from :class:`StepBatchSampler`, which draws the rows of optimizer step ``s`` from a
  generator seeded by ``(seed, s)``: a run resumed at step ``s`` sees the same batches as an
  uninterrupted one, and the rows of a step do not depend on how many processes share it.

One optimizer step reads ``rows_per_step = batch_size x processes x gradient_accumulation_steps``
rows, as ``gradient_accumulation_steps`` micro-batches of ``batch_size x processes`` rows each;
``accelerator.prepare`` (with ``split_batches=True``) hands each process its ``batch_size`` rows of
every micro-batch. The sampler draws without replacement when the corpus has enough rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler

from .control_tokens import IGNORE_INDEX


def tokenize_once(tokenizer, texts: Sequence[str], max_length: int, teacher_cues: np.ndarray | None = None):
    """A ``datasets.Dataset`` with columns ``input_ids`` (token ids, at most ``max_length``), ``row``
    and, when ``teacher_cues`` (n, m) is given, ``cues``. (n,) texts -> n rows. Nothing is written to disk."""
    from datasets import Dataset

    texts = list(texts)
    if not texts:
        raise ValueError("no training texts: the corpus is empty")
    # one batched call of the (Rust) tokenizer: ~50 ms for 5,000 sentences
    columns = {"input_ids": tokenizer(texts, truncation=True, max_length=max_length)["input_ids"],
               "row": np.arange(len(texts))}
    if teacher_cues is not None:
        if len(teacher_cues) != len(texts):
            raise ValueError(f"mismatched lengths: {len(texts)} texts but {len(teacher_cues)} teacher cue rows")
        columns["cues"] = np.asarray(teacher_cues, dtype=np.int64)
    return Dataset.from_dict(columns)


class StepBatchSampler(Sampler[list[int]]):
    """Yields the micro-batches (lists of row numbers) of optimizer steps ``first_step .. last_step``.

    Step ``s`` draws ``micro_batch x micro_batches`` rows from ``default_rng([seed, s])`` (without
    replacement when there are enough rows) and cuts them into ``micro_batches`` lists of
    ``micro_batch`` rows. ``batch_size`` is the micro-batch, as accelerate's shards expect.
    """

    def __init__(self, n_rows: int, micro_batch: int, micro_batches: int, seed: int, first_step: int, last_step: int):
        if n_rows < 1 or micro_batch < 1 or micro_batches < 1:
            raise ValueError(f"need n_rows, micro_batch, micro_batches >= 1; got {n_rows}, {micro_batch}, {micro_batches}")
        self.n_rows, self.batch_size, self.micro_batches = n_rows, micro_batch, micro_batches
        self.seed, self.first_step, self.last_step = seed, first_step, last_step
        self.drop_last = True

    def step_rows(self, step: int) -> np.ndarray:
        """The rows of optimizer step ``step`` (1-based), (micro_batch x micro_batches,)."""
        size = self.batch_size * self.micro_batches
        return np.random.default_rng([self.seed, step]).choice(self.n_rows, size=size, replace=size > self.n_rows)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.first_step, self.last_step + 1):
            rows = self.step_rows(step)
            for i in range(self.micro_batches):
                yield rows[i * self.batch_size : (i + 1) * self.batch_size].tolist()

    def __len__(self) -> int:
        return max(0, self.last_step - self.first_step + 1) * self.micro_batches


@dataclass
class PadCollator:
    """Right-pads a list of rows of :func:`tokenize_once` into tensors.

    Returns ``input_ids`` and ``attention_mask`` (B, L), ``labels`` (B, L: the ids, ``-100`` on
    pads), ``row`` (B,) and, when the rows carry them, ``cues`` (B, m).
    """

    pad_id: int

    def __call__(self, features: Sequence[dict]) -> dict[str, torch.Tensor]:
        seqs = [torch.as_tensor(f["input_ids"], dtype=torch.long) for f in features]
        ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=self.pad_id)
        lengths = torch.tensor([len(s) for s in seqs])
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
        batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, IGNORE_INDEX),
                 "row": torch.tensor([int(f["row"]) for f in features], dtype=torch.long)}
        if "cues" in features[0]:
            batch["cues"] = torch.tensor([list(f["cues"]) for f in features], dtype=torch.long)
        return batch


def training_loader(dataset, pad_id: int, micro_batch: int, micro_batches: int, seed: int, first_step: int,
                    last_step: int) -> torch.utils.data.DataLoader:
    """The DataLoader of steps ``first_step .. last_step`` (pass it through ``accelerator.prepare``)."""
    sampler = StepBatchSampler(len(dataset), micro_batch, micro_batches, seed, first_step, last_step)
    # its own generator: starting an iterator draws a seed from it, and from the global torch RNG
    # otherwise, which would shift the Gumbel noise of a resumed run against an uninterrupted one
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollator(pad_id), num_workers=0,
                                       generator=torch.Generator().manual_seed(seed))
