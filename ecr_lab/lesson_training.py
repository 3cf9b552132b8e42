"""The small computations notebook 03 shows beside the library calls, so that it stays thin and
each step is tested once.

- :func:`first_batch`: the first micro-batch a training run reads, built by the loop's own pieces
  (``training_data.tokenize_once``, ``training_loader``, the run's cue source and
  ``control_tokens.prepend_cues``), with its corpus rows and cue ids kept for reading.
- :func:`batch_table`, :func:`batch_rows`: that batch as tables: one row of it position by position
  (token, id, label, cue / text / pad, scored by the loss or not), and every row in one line.
- :func:`gain_ladder`, :func:`gain_shares`, :func:`gain_chart`: where the gain of ECR on top of
  distillation comes from: the baseline, KD alone, ECR+KD at inference and the cue-only controls
  (the cue alone, the KD student + the cue) side by side, and the differences between them (KD's
  share, ECR's share on top of KD, what the student adds beyond its cue).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
import torch

from .control_tokens import IGNORE_INDEX, cue_token_ids, prepend_cues
from .vectors import check_embeddings

# -- one training batch --------------------------------------------------------------------------------------


def _no_student_cues(use: torch.Tensor) -> torch.Tensor:
    raise ValueError("this step takes some cues from the student's projection step, which is fitted during "
                     "training: first_batch shows batches with teacher cues (ecr, ecr+kd), random cues "
                     "(random_cues) or none (baseline, kd)")


def _no_soft_cues():
    raise ValueError("soft cues (cue_source='soft') are mixes of cue-token embeddings, not token ids: there is no "
                     "cue id to print; first_batch shows batches with teacher cues, random cues or none")


def first_batch(tokenizer, texts: Sequence[str], teacher_embeddings: np.ndarray, anchors, config,
                step: int = 1) -> dict[str, torch.Tensor]:
    """The first micro-batch of optimizer step ``step`` of a run with ``config``, on one process,
    as the training loop feeds it to the model (``Trainer._micro_batches``).

    The training set is tokenised once (:func:`~ecr_lab.training_data.tokenize_once`, teacher cue
    ids in a column), the step's rows are drawn by the loop's sampler from (``config.seed``,
    ``step``) and right-padded (:class:`~ecr_lab.training_data.PadCollator`: labels ``-100`` on
    pads), the condition's cue source picks the cues, and
    :func:`~ecr_lab.control_tokens.prepend_cues` puts their tokens in front (labels ``-100`` there too).

    Args:
        tokenizer: the student's tokenizer, with the K cue tokens of ``anchors``.
        texts: the n training texts; teacher_embeddings: their (n, d_t) teacher rows.
        anchors: the :class:`~ecr_lab.anchors.AnchorSet`; config: the run's ``TrainConfig``.
        step: the optimizer step (1-based).

    Returns:
        ``input_ids``, ``attention_mask``, ``labels`` (B, m + L) as the model receives them, ``row``
        (B,) the corpus rows, and for conditions with cues ``cues`` (B, m): the anchor ids whose
        tokens open each row. Raises ValueError for soft cues and for student cues (neither has
        ids to show before training).
    """
    from .cue_sources import make_cue_source
    from .training_data import tokenize_once, training_loader

    texts = list(texts)
    teacher = check_embeddings(teacher_embeddings, "teacher_embeddings", dim=anchors.dim)
    if len(teacher) != len(texts):
        raise ValueError(f"mismatched lengths: {len(texts)} texts but {len(teacher)} teacher rows")
    if step < 1:
        raise ValueError(f"step is 1-based, got {step}")
    cue_vocab = cue_token_ids(tokenizer, anchors.k)  # a clear error when the tokenizer lacks the cue tokens
    source = make_cue_source(config, len(texts), anchors.k, cue_vocab, _no_soft_cues)
    teacher_cues = anchors.assign(teacher, config.m_cues)[0] if config.uses_cues else None
    dataset = tokenize_once(tokenizer, texts, config.max_length, teacher_cues)
    pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)  # as the loop
    loader = training_loader(dataset, pad_id, config.batch_size, config.gradient_accumulation_steps, config.seed,
                             step, step)
    batch = next(iter(loader))
    cues = source.batch_cues(step, batch, _no_student_cues)
    batch.pop("cues", None)
    if cues is None:
        return batch
    batch = prepend_cues(batch, cues, tokenizer, padding_side="right", vocab_ids=cue_vocab)
    batch["cues"] = cues
    return batch


def _parts(ids: torch.Tensor, mask: torch.Tensor, cue_vocab: set[int]) -> list[str]:
    return ["pad" if not a else ("cue" if int(t) in cue_vocab else "text") for t, a in zip(ids, mask, strict=True)]


def _cue_vocab(tokenizer) -> set[int]:
    from .control_tokens import count_cue_tokens

    return set(cue_token_ids(tokenizer, count_cue_tokens(tokenizer)).tolist())


def batch_table(batch: dict[str, torch.Tensor], tokenizer, row: int | None = None) -> pd.DataFrame:
    """One row of a tokenised batch, position by position.

    Columns: ``position``; ``token`` (the vocabulary entry; byte-level BPE writes a leading space
    as ``Ġ``); ``reads`` (the token decoded on its own); ``input_id``; ``attention_mask``;
    ``label`` (``-100``: never a target); ``part`` (cue, text or pad); ``loss_target``: whether
    the loss scores this token, i.e. the model predicts it from the tokens before it (its label is
    not ``-100`` and it is not at position 0: nothing comes before the first position).

    ``row``: which row of the batch (default: the one with the most padding, so pads show).
    """
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    if row is None:
        row = int(torch.argmin(mask.sum(1)))
    if not 0 <= row < len(ids):
        raise ValueError(f"row must be in [0, {len(ids)}), got {row}")
    r_ids, r_mask, r_labels = ids[row].tolist(), mask[row].tolist(), labels[row].tolist()
    return pd.DataFrame({
        "position": range(len(r_ids)),
        "token": tokenizer.convert_ids_to_tokens(r_ids),
        "reads": [tokenizer.decode([t]) for t in r_ids],
        "input_id": r_ids,
        "attention_mask": r_mask,
        "label": r_labels,
        "part": _parts(ids[row], mask[row], _cue_vocab(tokenizer)),
        "loss_target": [p > 0 and lab != IGNORE_INDEX for p, lab in enumerate(r_labels)],
    })


def batch_rows(batch: dict[str, torch.Tensor], tokenizer) -> pd.DataFrame:
    """Every row of a tokenised batch in one line: its corpus ``row``, cue ``anchor_ids`` and
    ``cue_tokens`` (empty without cues), the ``text`` (its text tokens decoded), how many positions
    are cues, text and pads, how many labels are ``-100`` and how many tokens the loss scores."""
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    vocab = _cue_vocab(tokenizer)
    out = []
    for i in range(len(ids)):
        parts = _parts(ids[i], mask[i], vocab)
        text_ids = [int(t) for t, p in zip(ids[i], parts, strict=True) if p == "text"]
        cue_ids = batch["cues"][i].tolist() if "cues" in batch else []
        out.append({
            "row": int(batch["row"][i]) if "row" in batch else i,
            "anchor_ids": cue_ids,
            "cue_tokens": " ".join(t for t, p in zip(tokenizer.convert_ids_to_tokens(ids[i].tolist()), parts,
                                                      strict=True) if p == "cue"),
            "text": tokenizer.decode(text_ids).strip(),
            "cues": parts.count("cue"), "text_tokens": parts.count("text"), "pads": parts.count("pad"),
            "labels_-100": int((labels[i] == IGNORE_INDEX).sum()),
            "loss_targets": int((labels[i, 1:] != IGNORE_INDEX).sum()),
        })
    return pd.DataFrame(out)


# -- where the gain comes from ----------------------------------------------------------------------------------

#: groups of the gain ladder, in the chart's colour order
GAIN_GROUPS = ("no cues", "ECR", "cue-only control")


def _ladder_spec(ecr_condition: str, kd: str, baseline: str) -> list[tuple[str, str, str, str]]:
    """(system, group, condition, view) of each bar, in order."""
    return [
        (f"{baseline} (cue-free)", "no cues", baseline, "cue_free"),
        (f"{kd} (cue-free)", "no cues", kd, "cue_free"),
        (f"{ecr_condition} at inference", "ECR", ecr_condition, "ecr_inference"),
        ("its cue alone", "cue-only control", ecr_condition, "cue_only"),
        ("KD student + its cue", "cue-only control", ecr_condition, "kd_plus_cue"),
    ]


def _smallest_preset(results: pd.DataFrame) -> str:
    return str(results.groupby("preset")["params"].max().sort_values().index[0])


def _per_seed(results: pd.DataFrame, preset: str, condition: str, view: str, metric: str) -> pd.Series:
    sel = results[(results.preset == preset) & (results.condition == condition) & (results.view == view)
                  & (results.metric == metric)]
    return sel.groupby("seed")["value"].mean()


def gain_ladder(results: pd.DataFrame, preset: str | None = None,
                metrics: Sequence[str] = ("topic_probe", "retrieval_at_1"), ecr_condition: str = "ecr+kd",
                kd: str = "kd", baseline: str = "baseline") -> pd.DataFrame:
    """The systems that split ECR's gain, one row per (metric, system): the ``baseline`` and ``kd``
    students' cue-free embeddings, ``ecr_condition`` at inference (projected cues), and that run's
    cue-only controls (``cue_only``: its projected cue alone, a multi-hot vector, no student;
    ``kd_plus_cue``: the KD student's cue-free embedding beside the same cue).

    ``results``: an :func:`ecr_lab.evaluation.evaluate` table of several runs; ``preset``: the
    student size (default: the smallest). Columns: metric, system, group, condition, view, mean,
    std (over seeds; 0 with one seed), seeds. A system without rows (no KD run, controls not
    evaluated) is left out; the baseline and ECR at inference must be there.
    """
    preset = preset or _smallest_preset(results)
    rows = []
    for metric in metrics:
        for system, group, condition, view in _ladder_spec(ecr_condition, kd, baseline):
            vals = _per_seed(results, preset, condition, view, metric)
            if vals.empty:
                if view in ("cue_free", "ecr_inference") and condition in (baseline, ecr_condition):
                    raise ValueError(f"no {condition!r} rows in view {view!r} for metric {metric!r} on preset "
                                     f"{preset!r}: evaluate the {condition} run first")
                continue
            rows.append({"metric": metric, "system": system, "group": group, "condition": condition, "view": view,
                         "mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                         "seeds": int(len(vals))})
    return pd.DataFrame(rows, columns=["metric", "system", "group", "condition", "view", "mean", "std", "seeds"])


def gain_shares(results: pd.DataFrame, preset: str | None = None,
                metrics: Sequence[str] = ("topic_probe", "retrieval_at_1"), ecr_condition: str = "ecr+kd",
                kd: str = "kd", baseline: str = "baseline") -> pd.DataFrame:
    """ECR's gain over the baseline, split: KD's share and ECR's share on top of KD, and what the
    student adds beyond its cue (ECR at inference minus each cue-only control).

    Each ``difference`` is the mean over seeds of the paired difference (``seeds`` says how many):
    the whole gain and the two shares use the seeds common to ECR, the baseline and KD, so the shares
    add up to the whole gain; the cue-only rows use the seeds common to their two sides.
    ``share_of_gain`` = part / whole gain for KD's share and ECR's share (they add up to 1), NaN
    where the whole gain is not positive or for the other rows.
    Columns: metric, part, comparison, difference, share_of_gain, seeds.
    """
    preset = preset or _smallest_preset(results)
    label = f"{ecr_condition} at inference"
    out = []
    for metric in metrics:
        def side(condition: str, view: str, metric: str = metric) -> pd.Series:
            return _per_seed(results, preset, condition, view, metric)

        ecr = side(ecr_condition, "ecr_inference")
        base = side(baseline, "cue_free")
        if ecr.empty or base.empty:
            raise ValueError(f"no {ecr_condition!r} (ecr_inference) or {baseline!r} (cue_free) rows for metric "
                             f"{metric!r} on preset {preset!r}")
        kd_side = side(kd, "cue_free")
        specs = [("whole gain", f"{label} - {baseline}", ecr, base),
                 ("KD's share", f"{kd} - {baseline}", kd_side, base),
                 ("ECR's share on top of KD", f"{label} - {kd}", ecr, kd_side),
                 ("beyond its cue alone", f"{label} - its cue alone", ecr, side(ecr_condition, "cue_only")),
                 ("beyond KD student + its cue", f"{label} - KD student + its cue", ecr,
                  side(ecr_condition, "kd_plus_cue"))]
        ladder = ecr.index.intersection(base.index)
        if not kd_side.empty:
            ladder = ladder.intersection(kd_side.index)  # one set of seeds: the shares add up
        whole = np.nan
        for part, comparison, a, b in specs:
            common = a.index.intersection(b.index)
            if part in ("whole gain", "KD's share", "ECR's share on top of KD") and not (a.empty or b.empty):
                common = ladder
            if common.empty:
                continue
            diff = float((a.loc[common] - b.loc[common]).mean())
            if part == "whole gain":
                whole = diff
            share = diff / whole if part in ("KD's share", "ECR's share on top of KD") and whole > 0 else np.nan
            out.append({"metric": metric, "part": part, "comparison": comparison, "difference": diff,
                        "share_of_gain": share, "seeds": int(len(common))})
    return pd.DataFrame(out, columns=["metric", "part", "comparison", "difference", "share_of_gain", "seeds"])


def gain_chart(results: pd.DataFrame, preset: str | None = None,
               metrics: Sequence[str] = ("topic_probe", "retrieval_at_1"), ecr_condition: str = "ecr+kd",
               kd: str = "kd", baseline: str = "baseline", title: str | None = None) -> alt.FacetChart:
    """The :func:`gain_ladder` as bars, one panel per metric: mean ± std over seeds, coloured by
    group (no cues / ECR / cue-only control), each bar labelled with its value, and a dashed line
    at the baseline. KD's share is the step from the baseline to the KD bar, ECR's share the step
    from KD to ECR at inference; a cue-only bar as high as ECR's says the student adds little."""
    from .lesson_charts import metric_label

    preset = preset or _smallest_preset(results)
    ladder = gain_ladder(results, preset, metrics, ecr_condition, kd, baseline)
    base_system = _ladder_spec(ecr_condition, kd, baseline)[0][0]
    base_mean = ladder[ladder.system == base_system].set_index("metric")["mean"]
    ladder = ladder.assign(lo=ladder["mean"] - ladder["std"], hi=ladder["mean"] + ladder["std"],
                           baseline=ladder.metric.map(base_mean), panel=ladder.metric.map(metric_label))
    order = [s for s, *_ in _ladder_spec(ecr_condition, kd, baseline)]
    x = alt.X("system:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30))
    base = alt.Chart().encode(x=x)
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title="value (mean ± std over seeds)"),
        color=alt.Color("group:N", sort=list(GAIN_GROUPS), title="Embedding"),
        tooltip=["system:N", "view:N", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("std:Q", format=".3f"),
                 "seeds:Q"])
    err = base.mark_rule().encode(y="lo:Q", y2="hi:Q")
    labels = base.mark_text(dy=-8, fontSize=10).encode(y="hi:Q", text=alt.Text("mean:Q", format=".3f"))
    rule = alt.Chart().mark_rule(color="gray", strokeDash=[4, 4]).encode(  # across the panel, not per bar
        y=alt.Y("max(baseline):Q"), tooltip=[alt.Tooltip("max(baseline):Q", title=f"{baseline}", format=".3f")])
    return alt.layer(bars, err, labels, rule, data=ladder).facet(
        column=alt.Column("panel:N", title=None, sort=[metric_label(m) for m in metrics])).resolve_scale(
        y="independent").properties(
        title=title or f"Where the gain comes from ({preset} student; dashed: the {baseline})")
