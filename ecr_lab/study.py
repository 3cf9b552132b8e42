"""The study behind notebook 03 and the README's results: where does ECR help on our data?

``ecr-lab study`` trains, over several seeds, the pipeline's runs plus the variants below, then
evaluates every run in every view and, for the ECR runs, every projection step (fitted post hoc on
the same trained student: ridge / Procrustes / classifier, on token-embedding or hidden-state
features). Everything lands in one long table (``study.csv``) and a summary (``study.md``).

Training variants (all on the small student unless noted):

=================== =========================================================================
``baseline``        plain LM
``ecr``             teacher cues in training (the offline assignment), hard cues
``ecr_schedule``    teacher cues, then the student's own projected cues (ramp 30 % -> 80 %)
``ecr_soft``        soft cues: Gumbel mix weighted by a trainable projection (LM loss shapes it)
``random_cues``     control: random anchors
``kd`` / ``ecr+kd`` distillation, and ECR on top of it
``large baseline``  the next preset (~3x parameters), for claim C5
=================== =========================================================================
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from . import metrics
from .config import Profile, get_profile
from .evaluation import evaluate
from .experiment import Setup, prepare, train_one
from .projection import AnchorProjector
from .student import cue_features, embed

#: name -> (condition, TrainConfig overrides)
VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline", {}),
    "ecr": ("ecr", {}),
    "ecr_schedule": ("ecr", {"cue_source": "schedule"}),
    "ecr_soft": ("ecr", {"cue_source": "soft"}),
    "random_cues": ("random_cues", {}),
    "kd": ("kd", {}),
    "ecr+kd": ("ecr+kd", {}),
}
PROJECTIONS = [(method, feature) for feature in ("tokens", "hidden") for method in ("ridge", "procrustes", "classifier")]


def projection_variants(run, setup: Setup, seed: int = 0) -> pd.DataFrame:
    """Post-hoc projection steps on one trained run: anchor agreement and the ECR-at-inference
    semantic metrics for each (method, feature). One row per projection."""
    rows = []
    teacher_top = setup.anchors.assign(setup.teacher_test, 1)[0][:, 0]
    m = run.config.m_cues
    for feature in ("tokens", "hidden"):
        f_train = cue_features(run.model, run.tokenizer, setup.train.texts, feature)
        f_test = cue_features(run.model, run.tokenizer, setup.test.texts, feature)
        for method in ("ridge", "procrustes", "classifier"):
            proj = AnchorProjector(setup.anchors, method=method).fit(f_train, setup.teacher_train)
            cues = proj.cues(f_test, m)
            x = embed(run.model, run.tokenizer, setup.test.texts, cues=cues, progress=False)
            rows.append({"run": run.name, "seed": run.seed, "method": method, "feature": feature,
                         "anchor_agreement": metrics.anchor_agreement(cues[:, 0], teacher_top),
                         "topic_probe": metrics.topic_probe(x, setup.test.topic_labels, setup.test.pair_ids, seed=seed),
                         "retrieval_at_1": metrics.retrieval_at_1(x, setup.test.pair_ids, setup.test.langs),
                         "cross_lingual_transfer": metrics.cross_lingual_transfer(x, setup.test.topic_labels,
                                                                                  setup.test.langs)})
    return pd.DataFrame(rows)


def run_study(profile: Profile | str | None = None, out: str | os.PathLike = "ecr_study", seeds: int = 3,
              variants: tuple[str, ...] = tuple(VARIANTS), km_sweep: bool = True, progress: bool = True) -> dict:
    """Train and evaluate every variant over ``seeds``; returns {"results", "projections", "km"} tables
    (also written to ``out``)."""
    profile = get_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    setup = prepare(profile, seed=0, anchors_dir=out / "anchors")
    small, large = profile.student_presets
    results, projections = [], []
    for seed in range(seeds):
        for name in variants:
            condition, overrides = VARIANTS[name]
            run = train_one(setup, small, condition, seed, out / "runs", progress=progress,
                            variant=None if not overrides else name, **overrides)
            results.append(evaluate(run, setup.test, setup.teacher_test).assign(variant=name))
            if name in ("ecr", "ecr_soft", "ecr+kd"):
                projections.append(projection_variants(run, setup).assign(variant=name))
        for name in ("baseline", "ecr"):
            run = train_one(setup, large, name, seed, out / "runs", progress=progress)
            results.append(evaluate(run, setup.test, setup.teacher_test).assign(variant=name))
    res = pd.concat(results, ignore_index=True)
    proj = pd.concat(projections, ignore_index=True) if projections else pd.DataFrame()
    km = pd.DataFrame()
    if km_sweep:  # K and m, one seed each (anchors and cue vocabulary change with K)
        rows = []
        for k, m in ((12, 2), (48, 2), (24, 1), (24, 4)):
            prof_k = profile.replace(k_anchors=k, m_cues=m)
            setup_k = replace(setup, profile=prof_k) if k == profile.k_anchors else prepare(prof_k, seed=0)
            run = train_one(setup_k, small, "ecr", 0, out / "runs", progress=progress, variant=f"ecr_K{k}_m{m}")
            rows.append(evaluate(run, setup_k.test, setup_k.teacher_test).assign(variant=f"ecr K={k} m={m}"))
        km = pd.concat(rows, ignore_index=True)
    res.to_csv(out / "study.csv", index=False)
    proj.to_csv(out / "projections.csv", index=False)
    km.to_csv(out / "km_sweep.csv", index=False)
    wall = time.perf_counter() - t0
    (out / "wall_time_s.txt").write_text(f"{wall:.0f}\n")
    return {"results": res, "projections": proj, "km": km, "wall_time_s": wall, "setup": setup}


def variant_table(results: pd.DataFrame, views=("cue_free", "ecr_inference", "oracle"),
                  metrics_shown=("topic_probe", "cross_lingual_transfer", "retrieval_at_1", "language_probe",
                                 "cka_to_teacher")) -> pd.DataFrame:
    """mean ± std over seeds, one row per (preset, variant, view), one column per metric."""
    sel = results[results.view.isin(views) & results.metric.isin(metrics_shown)]
    g = sel.groupby(["preset", "variant", "view", "metric"])["value"]
    stat = g.mean().map("{:.3f}".format) + " ± " + g.std().fillna(0).map("{:.3f}".format)
    table = stat.unstack("metric").reset_index()
    return table[["preset", "variant", "view"] + [m for m in metrics_shown if m in table.columns]]


def projection_table(projections: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of anchor agreement and ECR-at-inference metrics per projection step."""
    cols = ["anchor_agreement", "topic_probe", "retrieval_at_1", "cross_lingual_transfer"]
    g = projections.groupby(["variant", "feature", "method"])[cols]
    mean, std = g.mean(), g.std().fillna(0)
    out = mean.round(3).astype(str) + " ± " + std.round(3).astype(str)
    return out.reset_index()
