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
``cue_only``      control: the projected cue alone (a multi-hot vector, no student)
``kd_plus_cue``   control: the KD student's cue-free embedding ⊕ the projected cue
``projector_alone`` control: the projection step as a topic classifier (anchors' majority topics)
================= ==============================================================================

:func:`claims_table` compares the ECR condition with each control (baseline, and KD when it ran)
seed by seed, with a Student-t interval of the paired difference (:mod:`ecr_lab.stats`), and
computes each claim's verdict from the numbers: never written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from . import metrics
from .controls import CREDIT_METRICS
from .stats import at_most_verdict, mean_interval, no_effect_either_side, paired_difference, verdict
from .student import n_parameters
from .tables import mean_std
from .timing import interleaved_best_of

ID_COLUMNS = ["run", "condition", "preset", "params", "seed", "view", "metric", "value"]


def run_preset(run) -> str:
    """The student size a run was trained at (its preset name), "custom" when unknown."""
    return run.meta.get("preset") or getattr(run.model.config, "ecr_preset", None) or "custom"


def _run_ids(run) -> dict:
    return {"run": run.name, "condition": run.condition, "preset": run_preset(run),
            "params": n_parameters(run.model), "seed": run.seed}


def _rows(ids: dict, view: str, values: dict) -> list[dict]:
    return [{**ids, "view": view, "metric": k, "value": float(v)} for k, v in values.items()]


def knn_churn_halves(evals: pd.DataFrame, name: str = "the run") -> dict[str, float]:
    """``{"early", "late"}``: the mean ``knn_churn_prev`` of the evaluations at steps up to half the last
    evaluated step, and of those after it (nan for a half with no logged value): the
    ``knn_churn_early`` / ``knn_churn_late`` of :func:`training_summary` (claim C1 reads the late one).
    ``evals``: a run's ``evals`` table (columns ``step`` and ``knn_churn_prev``)."""
    if "knn_churn_prev" not in evals or not len(evals):
        raise ValueError(f"{name}: its evaluations logged no knn_churn_prev; train it with an eval_set")
    half = evals["step"].max() / 2
    early = evals.loc[evals["step"] <= half, "knn_churn_prev"].dropna()
    late = evals.loc[evals["step"] > half, "knn_churn_prev"].dropna()
    return {"early": float(early.mean()) if len(early) else float("nan"),
            "late": float(late.mean()) if len(late) else float("nan")}


def training_summary(run) -> dict:
    """Stability (clipping state as configured) and drift over training, from the run's logs."""
    h = run.history
    if "skipped" in h:  # fp16 steps the gradient scaler skipped (overflow, by design): not instability
        h = h[~h["skipped"].astype(bool)]
    out = metrics.stability_summary(h["grad_norm"], h["loss"]) if len(h) else {}
    out["final_loss"] = float(h["loss"].tail(max(1, len(h) // 10)).mean()) if len(h) else float("nan")
    ev = run.evals
    if len(ev) and "drift_cka_prev" in ev:
        late = ev[ev["step"] > ev["step"].max() / 2]
        if late["drift_cka_prev"].notna().any():
            out["drift_late"] = float(late["drift_cka_prev"].mean())
        if "knn_churn_prev" in ev:  # neighbourhood churn between evaluations: early half vs late half
            halves = knn_churn_halves(ev)
            out.update({f"knn_churn_{k}": halves[k] for k in ("late", "early") if not np.isnan(halves[k])})
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
             progress: bool = False, kd_twin=None, teacher_train: np.ndarray | None = None,
             train_topics: np.ndarray | None = None, keep: dict | None = None) -> pd.DataFrame:
    """Every metric of one run on a held-out ``corpus`` (n rows) with its teacher rows (n, d_t).

    Views: ``cue_free``, ``projection``, ``ecr_inference``, ``oracle``, ``inference`` (latency),
    ``training``; for runs with cues, with ``teacher_train`` (n_tr, d_t) and ``train_topics``
    (n_tr,) of the training split, also the controls of :mod:`ecr_lab.controls`: ``cue_only``
    (the projected cue alone), ``kd_plus_cue`` (``kd_twin``'s cue-free embedding ⊕ the cue; the KD
    run of the same size and seed) and ``projector_alone`` (the projection step as a topic classifier).
    Returns a long table with columns run, condition, preset, params, seed, view, metric, value.
    ``keep``: a dict that receives the arrays computed on the way, for callers that reuse them
    without another forward pass: ``"cue_free"`` (n, h) embeddings and, when the projection step is
    fitted, ``"cues"`` (n, m) projected cue ids.
    """
    if len(corpus) != len(teacher_embeddings):
        raise ValueError(f"mismatched lengths: corpus {len(corpus)} rows, teacher_embeddings {len(teacher_embeddings)}")
    ids = _run_ids(run)
    ecr, cfg, texts = run.student, run.config, corpus.texts
    rows: list[dict] = []

    keep = {} if keep is None else keep

    def view(cues, name: str | None = None) -> dict:
        x = ecr.encode(texts, cues=cues, teacher_embeddings=teacher_embeddings, progress=progress)
        if name:
            keep[name] = x
        return metrics.geometry_report(x, corpus, teacher_embeddings, seed=seed)

    rows += _rows(ids, "cue_free", view(None, "cue_free"))
    teacher_cues = ecr.teacher_cues(texts, teacher_embeddings)
    if ecr.projector is not None and ecr.projector.fitted:
        projected = keep["cues"] = ecr.cues(texts)
        rows += _rows(ids, "projection", {
            "anchor_agreement": metrics.anchor_agreement(projected[:, 0], teacher_cues[:, 0]),
            "anchor_chance": 1.0 / ecr.anchors.k,
        })
        if cfg.uses_cues:
            rows += _rows(ids, "ecr_inference", view(projected))
            if overhead_texts > 0:  # 0: no latency timing (e.g. on the validation split)
                rows += _rows(ids, "inference", inference_overhead(run, texts[:overhead_texts]))
    if cfg.uses_cues:
        rows += _rows(ids, "oracle", view(teacher_cues))
        if teacher_train is not None and ecr.projector is not None and ecr.projector.fitted:
            from .controls import control_views

            for name, values in control_views(run, kd_twin, corpus, teacher_embeddings, teacher_train, train_topics,
                                              seed=seed, cues=projected).items():
                rows += _rows(ids, name, values)
    rows += _rows(ids, "training", training_summary(run))
    return pd.DataFrame(rows, columns=ID_COLUMNS)


# -- the claims table ------------------------------------------------------------------------

#: C6: the latency of the model with ECR over the same model without must be at most this
LATENCY_LIMIT = 1.10
#: (claim, statement, [(ecr view, metric, direction)], compare); compare "same" = the ECR condition vs
#: each control of the same (small) size; "larger" = the small student with ECR vs each control on
#: the large student (~3x its size); "absolute" = a threshold on the ECR condition alone
CLAIMS = [
    # C1 reads kNN churn between the late evaluations: 1 - CKA (drift_late, still logged) hardly
    # moved there in any run (0.007-0.008 on both sides), kNN neighbourhoods do
    ("C1", "drift goes down", [("training", "knn_churn_late", "lower")], "same"),
    ("C2", "the manifold gets cleaner", [("ecr_inference", "silhouette_topic", "higher"),
                                          ("ecr_inference", "silhouette_language", "lower")], "same"),
    ("C3", "training is stable without gradient clipping", [("training", "grad_norm_p99_over_median", "lower"),
                                                            ("training", "loss_spikes", "lower")], "same"),
    ("C4", "cross-lingual consistency goes up", [("ecr_inference", "retrieval_at_1", "higher"),
                                                 ("ecr_inference", "cross_lingual_transfer", "higher")], "same"),
    ("C5", "a small student with ECR beats a baseline ~3x its size on semantic tasks",
     [("ecr_inference", "topic_probe", "higher"), ("ecr_inference", "cross_lingual_transfer", "higher")], "larger"),
    ("C6", "ECR adds only a small inference overhead",
     [("inference", "latency_ratio", f"at most {LATENCY_LIMIT:.2f}")], "absolute"),
]
#: the view a control without cues is measured in, for each view of the ECR side
BASELINE_VIEW = {"ecr_inference": "cue_free", "training": "training"}
#: the conditions ECR is compared with: the first always, the others when they are in the results
CONTROLS = ("baseline", "kd")
CLAIM_COLUMNS = ["claim", "statement", "comparison", "metric", "direction", "ecr", "other", "difference",
                 "ci_low", "ci_high", "seeds", "metric_verdict", "verdict"]


def metric_verdict(improvement: np.ndarray) -> str:
    """Verdict of per-seed improvements (positive = the claimed direction) against no change, by
    the rule of :func:`ecr_lab.stats.verdict` (t interval of the mean; kept for the old name)."""
    imp = np.asarray(improvement, dtype=float)
    return verdict(paired_difference(imp, np.zeros_like(imp), "higher"))


def claim_verdict(verdicts: Sequence[str]) -> str:
    """One claim's verdict from the metric verdicts of all its rows (every metric x every comparison).

    - "n/a": no row could be computed;
    - "untested": every row is untested (neither side shows the effect, e.g. no run spiked);
    - "supported": every row is supported, i.e. ECR beats every control (KD too) on every metric;
    - "indicative": every row is supported or indicative, some with one seed only (the best one
      seed can give);
    - "contradicted": every row is contradicted; "indicative against": every row contradicted or
      indicative against, some with one seed only;
    - otherwise the weakest, honestly: "inconclusive" when some row is inconclusive and none is
      contradicted (or indicative against), else "mixed" (rows disagree, or some are untested/n/a
      next to supported ones).
    """
    v = set(verdicts)
    if not v or v == {"n/a"}:
        return "n/a"
    if v == {"untested"}:
        return "untested"
    if v == {"supported"}:
        return "supported"
    if v <= {"supported", "indicative"}:
        return "indicative"
    if v == {"contradicted"}:
        return "contradicted"
    if v <= {"contradicted", "indicative against"}:
        return "indicative against"
    if "inconclusive" in v and not v & {"contradicted", "indicative against"}:
        return "inconclusive"
    return "mixed"


def _values(results: pd.DataFrame, condition: str, preset: str, view: str, metric: str) -> pd.Series:
    sel = results[(results.condition == condition) & (results.preset == preset) & (results.view == view)
                  & (results.metric == metric)]
    return sel.groupby("seed")["value"].mean()


def _present(results: pd.DataFrame, condition: str, preset: str, view: str | None = None) -> bool:
    sel = (results.condition == condition) & (results.preset == preset)
    if view is not None:
        sel &= results.view == view
    return bool(sel.any())


def _compare(ecr: pd.Series, other: pd.Series, direction: str, level: float) -> dict:
    """One row's numbers: the two sides on their common seeds, the paired difference and verdicts."""
    common = ecr.index.intersection(other.index).sort_values()
    e, o = ecr.loc[common], other.loc[common]
    diff = paired_difference(e, o, direction, level)
    v = "untested" if no_effect_either_side(e, o) else verdict(diff)
    return {"ecr": mean_std(e.to_numpy()), "other": mean_std(o.to_numpy()), "difference": diff.mean,
            "ci_low": diff.low, "ci_high": diff.high, "seeds": diff.n, "metric_verdict": v}


def claims_table(results: pd.DataFrame, small: str | None = None, large: str | None = None,
                 ecr_condition: str = "ecr", *, controls: Sequence[str] = CONTROLS,
                 level: float = 0.95) -> pd.DataFrame:
    """C1-C6 from an :func:`evaluate` table of several runs and seeds, each against its controls.

    ``small`` / ``large``: the presets compared (default: the smallest and largest by parameters).

    Comparisons: C1-C4 compare ``ecr_condition`` on the small student with each control of
    ``controls`` on the same student; C5 the small student with ECR with each control on the large
    one. The first control (``baseline``) is always shown, the others (``kd``) when they have runs
    on that preset. The ECR side is measured in the claim's view (``ecr_inference``: projected cues,
    no teacher); a control is measured in the same view when it has it (a cue control such as
    ``random_cues``), else in :data:`BASELINE_VIEW` (``cue_free``). Values are paired by seed and
    only seeds present on both sides count (``seeds``).

    Each row: the two sides (mean ± sd over the paired seeds), ``difference`` = mean improvement in
    the claimed direction (positive = ECR better) and its Student-t interval [``ci_low``,
    ``ci_high``] at ``level`` (:func:`ecr_lab.stats.paired_difference`), and ``metric_verdict``:
    supported (interval above 0) / contradicted (below 0) / inconclusive (contains 0) / indicative
    or indicative against (one seed: no interval) / untested (both sides identically 0, e.g. no
    run spiked) / n/a (no data).

    C6 is an absolute threshold: the latency ratio's mean must be at most :data:`LATENCY_LIMIT`.
    Its t interval [lo, hi] of the mean ratio gives supported when hi <= 1.10, contradicted when
    lo > 1.10, else inconclusive (one seed: indicative / indicative against); the row shows it as
    ``difference`` = 1.10 - mean ratio with ``ci_low`` = 1.10 - hi, ``ci_high`` = 1.10 - lo, so that
    in every row positive means "as claimed".

    Each claim's ``verdict`` combines all its rows, every metric in every comparison
    (:func:`claim_verdict`): "supported" only if every row is supported, so ECR is credited only
    when it beats KD too; "untested" when every row is untested; "contradicted" when every row is;
    otherwise the weakest: "inconclusive" when some row is and none is contradicted, else "mixed".
    With one seed the best possible is "indicative" (all against: "indicative against").

    **Cue controls** (:data:`CUE_CONTROL_VIEWS`): for every metric read at inference, two more rows
    compare ECR at inference with the same run's ``cue_only`` and ``kd_plus_cue`` views (same
    student size, paired by seed), when the results have them. They say how much of ECR's score the
    student adds beyond the projector's own classification; they do not enter the claim's verdict
    (the claim is about the system as deployed), and the README reads them separately.
    """
    sizes = results.groupby("preset")["params"].max().sort_values()
    small = small or sizes.index[0]
    large = large or sizes.index[-1]
    controls = [c for c in controls if c != ecr_condition]
    rows = []
    for claim, statement, specs, compare in CLAIMS:
        claim_rows = []
        if compare == "absolute":
            for view, metric, direction in specs:
                vals = _values(results, ecr_condition, small, view, metric).to_numpy()
                x = mean_interval(vals, level)
                claim_rows.append({"comparison": f"{ecr_condition} ({small}) vs limit {LATENCY_LIMIT:.2f}",
                                   "metric": f"{view}/{metric}", "direction": direction, "ecr": mean_std(vals),
                                   "other": f"{LATENCY_LIMIT:.3f} (limit)", "difference": LATENCY_LIMIT - x.mean,
                                   "ci_low": LATENCY_LIMIT - x.high, "ci_high": LATENCY_LIMIT - x.low,
                                   "seeds": x.n, "metric_verdict": at_most_verdict(x, LATENCY_LIMIT)})
        else:
            preset = large if compare == "larger" else small
            shown = [c for i, c in enumerate(controls) if i == 0 or _present(results, c, preset)]
            for control in shown:
                if compare == "larger":
                    label = (f"{ecr_condition} ({small}) vs {control} ({large})" if large != small
                             else f"{ecr_condition} ({small}) vs {control} (no larger preset)")
                else:
                    label = f"{ecr_condition} vs {control} ({small})"
                for view, metric, direction in specs:
                    ecr = _values(results, ecr_condition, small, view, metric)
                    other_view = view if _present(results, control, preset, view) else BASELINE_VIEW.get(view, view)
                    other = _values(results, control, preset, other_view, metric)
                    if compare == "larger" and large == small:  # no larger student: nothing to compare
                        other = other.iloc[:0]
                    claim_rows.append({"comparison": label, "metric": f"{view}/{metric}",
                                       "direction": f"{direction} is better",
                                       **_compare(ecr, other, direction, level)})
        verdict_ = claim_verdict([r["metric_verdict"] for r in claim_rows])
        claim_rows += _cue_control_rows(results, ecr_condition, small, specs, level)
        rows += [{"claim": claim, "statement": statement, **r, "verdict": verdict_} for r in claim_rows]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


#: the same run's cue-only control views (ecr_lab.controls) that ECR at inference is read against
CUE_CONTROL_VIEWS = {"cue_only": "its cue alone", "kd_plus_cue": "KD student + its cue"}


def _cue_control_rows(results: pd.DataFrame, ecr_condition: str, preset: str, specs, level: float) -> list[dict]:
    """Rows comparing ECR at inference with the same run's cue-only controls (see :func:`claims_table`)."""
    rows = []
    for control_view, label in CUE_CONTROL_VIEWS.items():
        if not _present(results, ecr_condition, preset, control_view):
            continue
        for view, metric, direction in specs:
            if view != "ecr_inference" or metric not in CREDIT_METRICS:  # probes only: geometry of a 0/1 code says little
                continue
            ecr = _values(results, ecr_condition, preset, view, metric)
            other = _values(results, ecr_condition, preset, control_view, metric)
            rows.append({"comparison": f"{ecr_condition} vs {label} ({preset}; not in the verdict)",
                         "metric": f"{view}/{metric}", "direction": f"{direction} is better",
                         **_compare(ecr, other, direction, level)})
    return rows


def summary_table(results: pd.DataFrame, metrics_shown: Sequence[str] = (
        "topic_probe", "cross_lingual_transfer", "retrieval_at_1", "language_probe", "cka_to_teacher",
        "anisotropy", "effective_rank", "anchor_agreement")) -> pd.DataFrame:
    """Mean over seeds, one row per (preset, condition, view), one column per metric."""
    sel = results[results.metric.isin(metrics_shown)]
    table = sel.pivot_table(index=["preset", "condition", "view"], columns="metric", values="value", aggfunc="mean")
    return table[[m for m in metrics_shown if m in table.columns]].reset_index()
