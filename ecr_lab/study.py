"""The study behind notebook 03 and the README's results: where does ECR help on our data?

``ecr-lab study`` trains, over several seeds, the pipeline's runs plus the variants below, then
evaluates every run in every view and, for the ECR runs, every projection step (fitted post hoc on
the same trained student: ridge / Procrustes / classifier, on token-embedding or hidden-state
features), on the validation split **and** on the test split. Everything lands in one long table
(``study.csv``, a ``split`` column) and a summary (``study.md``).

Every choice (the ECR variant, the projection step and its feature, K and m) is made on the
validation split (:func:`choose_on_validation`); the test split only reports the numbers of what
was chosen, so the numbers quoted are not inflated by having picked the best of many on them.

Training variants (:data:`ecr_lab.training_config.VARIANTS`, shared with the pipeline; all on the small
student unless noted):

=================== =========================================================================
``baseline``        plain LM
``ecr``             teacher cues in training (the offline assignment), hard cues
``ecr_schedule``    teacher cues, then the student's own projected cues (ramp 30 % -> 80 %)
``ecr_soft``        soft cues: Gumbel mix weighted by a trainable projection (LM loss shapes it)
``random_cues``     control: random anchors
``kd`` / ``ecr+kd`` distillation, and ECR on top of it
larger student      the next preset (~3x parameters): the baseline and the profile's claim
                    condition, as in the pipeline (:func:`ecr_lab.experiment.run_plan`), for C5
=================== =========================================================================

The same question of a real pretrained compact student, SmolLM2-135M, is :mod:`ecr_lab.pretrained`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from . import metrics
from .caching import cached_frame
from .config import Profile, get_profile
from .ecr_model import ECRModel
from .evaluation import evaluate
from .experiment import (
    Setup,
    kd_twin,
    prepare,
    run_plan,
    train_one,
)
from .projection import AnchorProjector
from .tables import mean_std, mean_std_table
from .training_config import VARIANTS


def kd_head_projector(run, anchors) -> AnchorProjector | None:
    """The ``kd_head`` projection step of a run trained with KD: its distillation head as it was at
    the run's last checkpoint (the head is not part of the saved model). None without KD or checkpoint."""
    import torch

    from . import checkpoints

    last = checkpoints.latest_checkpoint(run.out_dir) if run.out_dir is not None and run.config.uses_kd else None
    if last is None:
        return None
    head = torch.load(Path(last) / "trainer_state.pt", weights_only=True)["extra"][0]  # the KD head comes first
    return AnchorProjector.from_linear_map(anchors, head["head.weight"], head["head.bias"])


def projection_variants(run, setup: Setup, seed: int = 0, splits: tuple[str, ...] = ("val", "test")) -> pd.DataFrame:
    """Post-hoc projection steps on one trained run (fitted on the training split; for runs with
    KD also the KD head itself, nothing fitted): anchor agreement and the ECR-at-inference semantic
    metrics for each (method, feature) on each of ``splits``. One row per projection and split."""
    rows = []
    for feature in ("tokens", "hidden"):
        ecr = ECRModel(run.model, run.tokenizer, setup.anchors, m=run.config.m_cues, cue_feature=feature)
        f_train = ecr.cue_features(setup.train.texts)
        kd_head = kd_head_projector(run, setup.anchors) if feature == "hidden" else None
        for method in ("ridge", "procrustes", "classifier", *(("kd_head",) if kd_head is not None else ())):
            projector = (kd_head if method == "kd_head"
                         else AnchorProjector(setup.anchors, method=method).fit(f_train, setup.teacher_train))
            for split in splits:
                corpus, teacher = setup.split(split)
                cues = projector.cues(ecr.cue_features(corpus.texts), ecr.m)
                x = ecr.encode(corpus.texts, cues=cues)
                rows.append({"run": run.name, "seed": run.seed, "split": split, "method": method, "feature": feature,
                             "anchor_agreement": metrics.anchor_agreement(cues[:, 0], setup.anchors.assign(teacher, 1)[0][:, 0]),
                             "topic_probe": metrics.topic_probe(x, corpus.topic_labels, corpus.pair_ids, seed=seed),
                             "retrieval_at_1": metrics.retrieval_at_1(x, corpus.pair_ids, corpus.langs),
                             "cross_lingual_transfer": metrics.cross_lingual_transfer(x, corpus.topic_labels, corpus.langs)})
    return pd.DataFrame(rows)


def evaluate_splits(run, setup: Setup, overhead_texts: int = 128, kd_twin=None) -> pd.DataFrame:
    """:func:`ecr_lab.evaluation.evaluate` on the validation split (no latency timing) and on the
    test split, cue-only controls included (``kd_twin``: the KD run of the same size and seed),
    one long table with a ``split`` column."""
    kw = dict(kd_twin=kd_twin, teacher_train=setup.teacher_train, train_topics=setup.train.topic_labels)
    return pd.concat([evaluate(run, setup.val, setup.teacher_val, overhead_texts=0, **kw).assign(split="val"),
                      evaluate(run, setup.test, setup.teacher_test, overhead_texts=overhead_texts, **kw)
                      .assign(split="test")], ignore_index=True)


#: what the study chooses, and by which validation number: the semantic metric ECR is for
CHOICE_METRIC = ("ecr_inference", "topic_probe")


def choose_on_validation(results: pd.DataFrame, projections: pd.DataFrame | None = None,
                         km: pd.DataFrame | None = None) -> dict:
    """The study's choices, each by its mean validation topic probe with ECR at inference:
    ``variant`` (among the ECR variants of the small student), ``projection`` ((method, feature)
    on that variant's runs) and ``km`` (the K/m sweep entry). Each choice carries its validation
    mean and the test mean of the same choice (reported, never used to choose)."""
    view, metric = CHOICE_METRIC

    def means(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        sel = df[(df.view == view) & (df.metric == metric)] if "view" in df else df
        col = "value" if "value" in sel else metric
        return sel.groupby(by + ["split"])[col].mean().unstack("split")

    small = results.sort_values("params")["preset"].iloc[0]
    cues = results[(results.preset == small) & (results.view == view) & results.variant.str.startswith("ecr")]
    table = means(cues, ["variant"])
    best = table["val"].idxmax()
    out = {"metric": f"{view}/{metric}", "variant": {"choice": best, "val": float(table.loc[best, "val"]),
                                                      "test": float(table.loc[best, "test"]),
                                                      "candidates": table.round(4).to_dict(orient="index")}}
    if projections is not None and len(projections):
        p = means(projections[projections.variant == best], ["method", "feature"])
        if len(p):
            (method, feature) = p["val"].idxmax()
            out["projection"] = {"choice": f"{method} on {feature}", "val": float(p.loc[(method, feature), "val"]),
                                 "test": float(p.loc[(method, feature), "test"])}
    if km is not None and len(km):
        k = means(km, ["variant"])
        choice = k["val"].idxmax()
        out["km"] = {"choice": choice, "val": float(k.loc[choice, "val"]), "test": float(k.loc[choice, "test"])}
    return out


def run_study(profile: Profile | str | None = None, out: str | os.PathLike = "ecr_study", seeds: int = 3,
              variants: tuple[str, ...] = tuple(VARIANTS), km_sweep: bool = True, stress: bool = True,
              progress: bool = True) -> dict:
    """Train and evaluate every variant over ``seeds``; returns {"results", "projections", "km",
    "stress"} tables (also written to ``out``) and the validation choices."""
    profile = get_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    setup = prepare(profile, seed=0, anchors_dir=out / "anchors")
    results, projections = [], []
    trained = [(preset, name, train_one(setup, preset, name, seed, out / "runs", progress=progress))
               for preset, name, seed in run_plan(profile, seeds, variants)]
    runs = [run for _, _, run in trained]
    tables = out / "tables"  # one file per run and table: a stopped study resumes, nothing is evaluated twice
    from tqdm.auto import tqdm

    for preset, name, run in tqdm(trained, desc="evaluating", unit="run", disable=not progress):
        twin = kd_twin(run, runs)
        results.append(per_run_table(tables, "eval", run, lambda run=run, twin=twin: evaluate_splits(
            run, setup, kd_twin=twin), twin).assign(variant=name))
        if preset == profile.student_presets[0] and name in ("ecr", "ecr_soft", "ecr+kd"):
            projections.append(per_run_table(tables, "projections", run,
                                              lambda run=run: projection_variants(run, setup)).assign(variant=name))
    res = pd.concat(results, ignore_index=True)
    proj = pd.concat(projections, ignore_index=True) if projections else pd.DataFrame()
    km = pd.DataFrame()
    if km_sweep:  # K and m, one seed each (anchors and cue vocabulary change with K)
        rows = []
        for k, m in ((12, 2), (48, 2), (24, 1), (24, 4)):
            prof_k = profile.replace(k_anchors=k, m_cues=m)
            setup_k = replace(setup, profile=prof_k) if k == profile.k_anchors else prepare(prof_k, seed=0)
            run = train_one(setup_k, profile.student_presets[0], "ecr", 0, out / f"runs_K{k}_m{m}", progress=progress)
            rows.append(per_run_table(tables, f"eval-K{k}-m{m}", run, lambda run=run, setup_k=setup_k: evaluate_splits(
                run, setup_k, overhead_texts=0)).assign(variant=f"ecr K={k} m={m}"))
        default = res[(res.variant == "ecr") & (res.seed == 0) & (res.preset == profile.student_presets[0])]
        rows.append(default.assign(variant=f"ecr K={profile.k_anchors} m={profile.m_cues}"))  # the default, same footing
        km = pd.concat(rows, ignore_index=True)
    st = stress_study(setup, out / "stress", seeds=seeds, progress=progress) if stress else pd.DataFrame()
    res.to_csv(out / "study.csv", index=False)
    proj.to_csv(out / "projections.csv", index=False)
    km.to_csv(out / "km_sweep.csv", index=False)
    st.to_csv(out / "stress.csv", index=False)
    wall = time.perf_counter() - t0
    (out / "wall_time_s.txt").write_text(f"{wall:.0f}\n")
    return {"results": res, "projections": proj, "km": km, "stress": st, "wall_time_s": wall, "setup": setup,
            "choices": choose_on_validation(res, proj, km)}


#: bump when what :func:`evaluate_splits` or :func:`projection_variants` compute changes: the
#: per-run tables a study cached under an older version are computed again, never reused
EVALUATION_VERSION = 1


def run_key(*runs) -> str:
    """A short hash of saved runs (each one's ``final/run.json``: config, logs, the hash of its
    sentences and the sha256 of its anchors) and :data:`EVALUATION_VERSION`: what a table computed
    from them depends on. None entries are skipped."""
    import hashlib

    h = hashlib.sha256(str(EVALUATION_VERSION).encode())
    for run in runs:
        if run is not None:
            h.update((Path(run.out_dir) / "final" / "run.json").read_bytes())
    return h.hexdigest()[:16]


def per_run_table(folder: Path, kind: str, run, compute: Callable[[], pd.DataFrame], *others) -> pd.DataFrame:
    """``compute()`` for ``run``, cached as ``folder/<run>-<kind>-<key>.csv`` (key: :func:`run_key`
    of ``run`` and ``others``, e.g. its KD twin), so a study that stops resumes where it was. A run
    without an ``out_dir`` (not saved) is computed each time."""
    if run.out_dir is None:
        return compute()
    return cached_frame(Path(folder) / f"{Path(run.out_dir).name}-{kind}-{run_key(run, *others)}.csv", compute)


# -- claim C3 needs a regime where training is unstable ------------------------------------------
#: learning rates from the default upward, on a deeper, narrower student of the small one's size
STRESS_LEARNING_RATES = (3e-3, 1e-2, 3e-2)
STRESS_PRESET = "deep"


#: steps of a stress run at most: instability at a high rate shows in the first few hundred steps
STRESS_MAX_STEPS = 300


def stress_study(setup: Setup, out: str | os.PathLike, seeds: int = 3, learning_rates=STRESS_LEARNING_RATES,
                 preset: str = STRESS_PRESET, variants: tuple[str, ...] | None = None, progress: bool = True,
                 steps: int | None = None) -> pd.DataFrame:
    """Train ``variants`` (default: baseline, kd and the profile's claim condition) on the ``deep``
    student at each learning rate, without clipping, over ``seeds``, for ``steps`` (default: the
    profile's, at most :data:`STRESS_MAX_STEPS`). One row per run: its status (``diverged`` when
    the loss or gradient became non-finite), loss spikes, gradient-norm tail and non-finite steps.
    At the default rate nothing spikes (C3 would be untested there)."""
    from .evaluation import training_summary

    variants = variants or tuple(dict.fromkeys(("baseline", "kd", setup.profile.claim_condition)))
    steps = steps or min(setup.profile.train_steps, STRESS_MAX_STEPS)
    rows = []
    for lr in learning_rates:
        for seed in range(seeds):
            for variant in variants:
                run = train_one(setup, preset, variant, seed, Path(out) / f"lr{lr:g}", progress=progress,
                                learning_rate=lr, steps=steps, eval_every=steps)
                summary = training_summary(run)
                rows.append({"variant": variant, "learning_rate": lr, "seed": seed, "preset": preset,
                             "status": run.status, "diverged": float(run.status == "diverged"),
                             "steps_done": len(run.history), **{k: summary.get(k, float("nan")) for k in (
                                 "loss_spikes", "grad_norm_p99_over_median", "nonfinite_steps")}})
    return pd.DataFrame(rows)


def stress_claims(stress: pd.DataFrame, ecr_condition: str = "ecr+kd", controls: tuple[str, ...] = ("baseline", "kd"),
                  level: float = 0.95) -> pd.DataFrame:
    """Claim C3 where it can be tested: at each learning rate of :func:`stress_study`, the ECR
    condition against each control, paired by seed, on loss spikes and divergence (a run whose
    loss or gradient became non-finite), with the same columns and verdict words as
    :func:`ecr_lab.evaluation.claims_table`. A rate where neither side spiked nor diverged in any
    seed reads "untested"; the claim's verdict is over the rates where some run was unstable."""
    from .evaluation import CLAIM_COLUMNS, claim_verdict
    from .stats import no_effect_either_side, paired_difference, verdict

    rows = []
    for lr, at_lr in stress.groupby("learning_rate", sort=True):
        ecr = at_lr[at_lr.variant == ecr_condition].set_index("seed")
        for control in controls:
            other = at_lr[at_lr.variant == control].set_index("seed")
            if other.empty or ecr.empty:
                continue
            for metric in ("loss_spikes", "diverged"):
                a, b = ecr[metric], other[metric]
                diff = paired_difference(a, b, "lower", level)
                v = "untested" if no_effect_either_side(a, b) else verdict(diff)
                rows.append({"claim": "C3", "statement": "training is stable without gradient clipping (stress regime)",
                             "comparison": f"{ecr_condition} vs {control} (lr {lr:g}, {at_lr.preset.iloc[0]})",
                             "metric": f"training/{metric}", "direction": "lower is better",
                             "ecr": mean_std(a.to_numpy()), "other": mean_std(b.to_numpy()), "difference": diff.mean,
                             "ci_low": diff.low, "ci_high": diff.high, "seeds": diff.n, "metric_verdict": v})
    table = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    tested = table[table.metric_verdict != "untested"]
    table["verdict"] = claim_verdict(list(tested.metric_verdict)) if len(tested) else "untested"
    return table


def stress_table(stress: pd.DataFrame) -> pd.DataFrame:
    """Per learning rate and variant: runs that diverged (of how many), loss spikes and the
    gradient-norm tail (mean ± std over seeds)."""
    if stress.empty:
        return stress
    g = stress.groupby(["learning_rate", "variant"])
    table = g.agg(runs=("seed", "size"), diverged=("diverged", "sum")).reset_index()
    for col in ("loss_spikes", "grad_norm_p99_over_median"):
        table[col] = g[col].agg(mean_std).to_numpy()
    table["diverged"] = [f"{int(d)}/{n}" for d, n in zip(table["diverged"], table["runs"], strict=True)]
    return table.drop(columns="runs")


def variant_table(results: pd.DataFrame, views=("cue_free", "ecr_inference", "oracle"),
                  metrics_shown=("topic_probe", "cross_lingual_transfer", "retrieval_at_1", "language_probe",
                                 "cka_to_teacher")) -> pd.DataFrame:
    """mean ± std over seeds, one row per (preset, variant, view), one column per metric."""
    sel = results[results.view.isin(views) & results.metric.isin(metrics_shown)]
    stat = sel.groupby(["preset", "variant", "view", "metric"])["value"].agg(mean_std)
    table = stat.unstack("metric").fillna("").reset_index()  # "" where a view has no such metric
    return table[["preset", "variant", "view"] + [m for m in metrics_shown if m in table.columns]]


def projection_table(projections: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of anchor agreement and ECR-at-inference metrics per projection step."""
    cols = ["anchor_agreement", "topic_probe", "retrieval_at_1", "cross_lingual_transfer"]
    return mean_std_table(projections, ["variant", "feature", "method"], cols)
