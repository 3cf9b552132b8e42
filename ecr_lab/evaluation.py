"""Evaluate runs into one tidy table, and turn that table into the claims table C1-C6.

:func:`evaluate` embeds a held-out corpus with a trained student and records every metric of
:mod:`ecr_lab.metrics` in long form (one row per run, view and metric). **Views** keep apart what
must not be mixed:

================= ==============================================================================
``cue_free``      the student's own embedding, no cues (what training did to the representation)
``ecr_inference`` cues chosen by the projection step from the student's own features (deployable)
``oracle``        cues from the teacher at test time (an upper bound; needs the teacher)
``projection``    anchor agreement: projected top-1 anchor == teacher's top-1 anchor
``training``      stability (grad-norm tail, loss spikes, non-finite steps) and drift over training
``inference``     latency ratio of the model with ECR vs the same model without
================= ==============================================================================

:func:`claims_table` compares ECR with the baseline over seeds (mean ± std) for each claim of the
paper and computes a verdict from the numbers: never written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from . import metrics
from .student import n_parameters
from .tables import mean_std
from .timing import interleaved_best_of

ID_COLUMNS = ["run", "condition", "preset", "params", "seed", "view", "metric", "value"]


def _run_ids(run) -> dict:
    preset = run.meta.get("preset") or getattr(run.model.config, "ecr_preset", None) or "custom"
    return {"run": run.name, "condition": run.condition, "preset": preset,
            "params": n_parameters(run.model), "seed": run.seed}


def _rows(ids: dict, view: str, values: dict) -> list[dict]:
    return [{**ids, "view": view, "metric": k, "value": float(v)} for k, v in values.items()]


def training_summary(run) -> dict:
    """Stability (clipping state as configured) and drift over training, from the run's logs."""
    h = run.history
    if "skipped" in h:  # fp16 steps the gradient scaler skipped (overflow, by design): not instability
        h = h[~h["skipped"].astype(bool)]
    out = metrics.stability_summary(h["grad_norm"], h["loss"]) if len(h) else {}
    out["final_loss"] = float(h["loss"].tail(max(1, len(h) // 10)).mean()) if len(h) else float("nan")
    ev = run.evals
    if len(ev) and "drift_cka_prev" in ev:
        late = ev[ev["step"] > ev["step"].max() / 2]["drift_cka_prev"].dropna()
        if len(late):
            out["drift_late"] = float(late.mean())
        out["drift_to_teacher"] = float(1 - ev["cka_to_teacher"].iloc[-1]) if "cka_to_teacher" in ev else float("nan")
    return out


@torch.no_grad()
def inference_overhead(run, texts: Sequence[str], batch_size: int = 32, repeats: int = 3) -> dict:
    """Latency of the model with ECR divided by the same model without, on the same texts.

    Both sides tokenise and run one forward pass per batch; the ECR side also computes the run's cue
    feature from the batch it already tokenised (a lookup, or one more forward pass for "hidden"),
    projects it, picks the top-m anchors and prepends their cue tokens (m more positions). Best of
    ``repeats`` each, measured alternately in one process (:func:`ecr_lab.timing.interleaved_best_of`).
    Returns {"latency_ratio", "ms_per_text_plain", "ms_per_text_ecr"}."""
    ecr = run.student
    model, tok = ecr.model.eval(), ecr.tokenizer
    texts = list(texts)
    device = ecr.device

    def batches():
        for i in range(0, len(texts), batch_size):
            b = tok(texts[i : i + batch_size], padding=True, truncation=True, max_length=ecr.max_length,
                    return_tensors="pt").to(device)
            yield {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}

    def plain() -> None:
        for b in batches():
            model(**b)

    def with_ecr() -> None:
        for b in batches():
            model(**ecr.with_projected_cues(b))

    t = interleaved_best_of({"plain": plain, "ecr": with_ecr}, repeats=repeats, warmup=False)
    return {"latency_ratio": t["ecr"] / t["plain"], "ms_per_text_plain": 1000 * t["plain"] / len(texts),
            "ms_per_text_ecr": 1000 * t["ecr"] / len(texts)}


def evaluate(run, corpus, teacher_embeddings: np.ndarray, overhead_texts: int = 128, seed: int = 0,
             progress: bool = False) -> pd.DataFrame:
    """Every metric of one run on a held-out ``corpus`` (n rows) with its teacher rows (n, d_t).

    Returns a long table with columns run, condition, preset, params, seed, view, metric, value.
    """
    if len(corpus) != len(teacher_embeddings):
        raise ValueError(f"mismatched lengths: corpus {len(corpus)} rows, teacher_embeddings {len(teacher_embeddings)}")
    ids = _run_ids(run)
    ecr, cfg, texts = run.student, run.config, corpus.texts
    rows: list[dict] = []

    def view(cues) -> dict:
        x = ecr.encode(texts, cues=cues, teacher_embeddings=teacher_embeddings, progress=progress)
        return metrics.geometry_report(x, corpus, teacher_embeddings, seed=seed)

    rows += _rows(ids, "cue_free", view(None))
    teacher_cues = ecr.teacher_cues(texts, teacher_embeddings)
    if ecr.projector is not None and ecr.projector.fitted:
        projected = ecr.cues(texts)
        rows += _rows(ids, "projection", {
            "anchor_agreement": metrics.anchor_agreement(projected[:, 0], teacher_cues[:, 0]),
            "anchor_chance": 1.0 / ecr.anchors.k,
        })
        if cfg.uses_cues:
            rows += _rows(ids, "ecr_inference", view(projected))
            rows += _rows(ids, "inference", inference_overhead(run, texts[:overhead_texts]))
    if cfg.uses_cues:
        rows += _rows(ids, "oracle", view(teacher_cues))
    rows += _rows(ids, "training", training_summary(run))
    return pd.DataFrame(rows, columns=ID_COLUMNS)


# -- the claims table ------------------------------------------------------------------------
#: (claim, statement, [(ecr view, metric, direction)], compare) ; compare "same" = ECR vs baseline of
#: the same size; "larger" = small student with ECR vs a baseline ~3x its size
CLAIMS = [
    ("C1", "drift goes down", [("training", "drift_late", "lower")], "same"),
    ("C2", "the manifold gets cleaner", [("ecr_inference", "silhouette_topic", "higher"),
                                          ("ecr_inference", "silhouette_language", "lower")], "same"),
    ("C3", "training is stable without gradient clipping", [("training", "grad_norm_p99_over_median", "lower"),
                                                            ("training", "loss_spikes", "lower")], "same"),
    ("C4", "cross-lingual consistency goes up", [("ecr_inference", "retrieval_at_1", "higher"),
                                                 ("ecr_inference", "cross_lingual_transfer", "higher")], "same"),
    ("C5", "a small student with ECR beats a baseline ~3x its size on semantic tasks",
     [("ecr_inference", "topic_probe", "higher"), ("ecr_inference", "cross_lingual_transfer", "higher")], "larger"),
    ("C6", "ECR adds only a small inference overhead", [("inference", "latency_ratio", "at most 1.10")], "absolute"),
]
BASELINE_VIEW = {"ecr_inference": "cue_free", "training": "training"}


def metric_verdict(improvement: np.ndarray) -> str:
    """From per-seed improvements (positive = the claimed direction): "supported" when the mean is
    positive and larger than the seed-to-seed standard deviation, "not supported" when the mean is
    <= 0, "mixed" in between. With one seed, any positive improvement counts (indicative only)."""
    if len(improvement) == 0 or not np.isfinite(improvement).all():
        return "n/a"
    mean = float(np.mean(improvement))
    sd = float(np.std(improvement, ddof=1)) if len(improvement) > 1 else 0.0
    if mean <= 0:
        return "not supported"
    return "supported" if mean > sd else "mixed"


def _claim_verdict(verdicts: list[str]) -> str:
    v = [x for x in verdicts if x != "n/a"]
    if not v:
        return "n/a"
    if all(x == "supported" for x in v):
        return "supported"
    if all(x == "not supported" for x in v):
        return "not supported"
    return "mixed"


def _values(results: pd.DataFrame, condition: str, preset: str, view: str, metric: str) -> pd.Series:
    sel = results[(results.condition == condition) & (results.preset == preset) & (results.view == view)
                  & (results.metric == metric)]
    return sel.groupby("seed")["value"].mean()


def claims_table(results: pd.DataFrame, small: str | None = None, large: str | None = None,
                 ecr_condition: str = "ecr") -> pd.DataFrame:
    """C1-C6 from an :func:`evaluate` table of several runs and seeds.

    ``small`` / ``large``: the presets compared (default: the smallest and largest by parameters).
    For C1-C4 ECR is compared with the baseline of the same (small) size, seed by seed; for C5 the
    small student with ECR against the large baseline; C6 is an absolute threshold on the latency
    ratio (supported <= 1.10, mixed <= 1.25, else not supported). Each metric gets a verdict
    (:func:`metric_verdict`) and each claim the combination: supported only if every metric is.
    """
    sizes = results.groupby("preset")["params"].max().sort_values()
    small = small or sizes.index[0]
    large = large or sizes.index[-1]
    rows = []
    for claim, statement, specs, compare in CLAIMS:
        verdicts = []
        claim_rows = []
        for view, metric, direction in specs:
            ecr = _values(results, ecr_condition, small, view, metric)
            if compare == "absolute":
                limit = 1.10
                vals = ecr.to_numpy()
                v = ("n/a" if len(vals) == 0 else "supported" if vals.mean() <= limit
                     else "mixed" if vals.mean() <= 1.25 else "not supported")
                claim_rows.append({"metric": f"{view}/{metric}", "direction": direction, "baseline": "1.000 (by definition)",
                                   "ecr": mean_std(vals), "improvement": mean_std(limit - vals) if len(vals) else "n/a",
                                   "seeds": len(vals), "metric_verdict": v})
                verdicts.append(v)
                continue
            base_preset = large if compare == "larger" else small
            base = _values(results, "baseline", base_preset, BASELINE_VIEW.get(view, view), metric)
            common = ecr.index.intersection(base.index) if compare == "same" else None
            if compare == "same":
                e, b = ecr.loc[common].to_numpy(), base.loc[common].to_numpy()
                imp = (e - b) if direction == "higher" else (b - e)
            else:  # different models: compare seed means pairwise by rank of seed
                n = min(len(ecr), len(base))
                e, b = ecr.to_numpy()[:n], base.to_numpy()[:n]
                imp = (e - b) if direction == "higher" else (b - e)
            v = metric_verdict(imp)
            verdicts.append(v)
            claim_rows.append({"metric": f"{view}/{metric}", "direction": f"{direction} is better",
                               "baseline": mean_std(b), "ecr": mean_std(e), "improvement": mean_std(imp), "seeds": len(imp),
                               "metric_verdict": v})
        verdict = _claim_verdict(verdicts)
        for r in claim_rows:
            rows.append({"claim": claim, "statement": statement,
                         "compared": {"same": f"{ecr_condition} vs baseline ({small})",
                                      "larger": f"{ecr_condition} ({small}) vs baseline ({large})",
                                      "absolute": f"{ecr_condition} ({small})"}[compare],
                         **r, "verdict": verdict})
    return pd.DataFrame(rows)


def summary_table(results: pd.DataFrame, metrics_shown: Sequence[str] = (
        "topic_probe", "cross_lingual_transfer", "retrieval_at_1", "language_probe", "cka_to_teacher",
        "anisotropy", "effective_rank", "anchor_agreement")) -> pd.DataFrame:
    """Mean over seeds, one row per (preset, condition, view), one column per metric."""
    sel = results[results.metric.isin(metrics_shown)]
    table = sel.pivot_table(index=["preset", "condition", "view"], columns="metric", values="value", aggfunc="mean")
    return table[[m for m in metrics_shown if m in table.columns]].reset_index()
