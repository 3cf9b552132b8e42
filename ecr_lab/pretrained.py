"""Does ECR help a real pretrained compact model? SmolLM2-135M as the student.

:func:`pretrained_study` fine-tunes SmolLM2-135M (offline, :func:`ecr_lab.student.load_smollm2`) on
the training split under the baseline, distillation (KD) and ECR+KD, in the mode that keeps what
the model knows (``trainable="cues+top"``: the cue-token rows and the top layers) and, when asked,
fully (:data:`PRETRAINED_VARIANTS`). Every choice is made on the validation split:

1. **learning rate and steps** (seed 0). Each variant trains one schedule of ``steps`` steps per
   rate of ``learning_rates``; the run is evaluated at each of ``step_candidates``, checkpoints
   along that one schedule (the same warm-up and cosine decay, stopped there). Per variant, the
   (rate, steps) with the best validation score is chosen; the score is the topic probe in the
   variant's deployed view: ECR at inference for ECR+KD, cue-free for the others.
2. **the projection step's feature** for ECR+KD: the last hidden state (one more forward pass at
   inference) or the mean token embedding (a lookup), by the same score.

Seeds 1, 2, ... train each variant at its chosen rate to its chosen steps. The test split reports
the chosen configurations only (``chosen`` column); the candidates' validation scores are kept.

Each unit of work, (variant, seed, rate) at one step candidate, caches its long table and its
arrays (cue-free embeddings, projected cues) under ``out/pretrained/``, so a stopped study resumes
where it was; a unit in flight resumes from its last checkpoint under ``out/pretrained_runs/``,
removed once the unit is done (a 135M model is 0.5 GB per checkpoint). The KD student + cue
control (``kd_plus_cue``) is computed from those arrays once every unit is done.
"""

from __future__ import annotations

import copy
import io
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from ._io import atomic_write_bytes
from .caching import cached_frame
from .config import Profile, get_profile
from .controls import control_views, student_plus_cue_report
from .ecr_model import ECRModel
from .evaluation import claims_table, evaluate, inference_overhead
from .experiment import Setup, probe_subset, rows_of
from .stats import paired_difference, verdict
from .tables import mean_std
from .training import EvalSet, TrainConfig, projector_rows, train
from .training_config import CUE_CONDITIONS, VARIANTS

PRESET = "smollm2-135m"
#: name -> (a variant of :data:`ecr_lab.training_config.VARIANTS`, trainable mode)
PRETRAINED_VARIANTS: dict[str, tuple[str, str]] = {
    "baseline/top": ("baseline", "cues+top"),
    "kd/top": ("kd", "cues+top"),
    "ecr+kd/top": ("ecr+kd", "cues+top"),
    "baseline/full": ("baseline", "all"),
    "kd/full": ("kd", "all"),
    "ecr+kd/full": ("ecr+kd", "all"),
}
#: trainable mode -> its name in tables
MODES = {"cues+top": "cue rows + top layers", "all": "full fine-tuning"}
#: the validation score every choice maximises (in the variant's deployed view)
CHOICE_METRIC = "topic_probe"
#: views whose numbers depend on the projection step's feature (the ``cue_feature`` column says which)
FEATURE_VIEWS = ("projection", "ecr_inference", "inference", "cue_only", "kd_plus_cue", "projector_alone")
CUE_FEATURES = ("hidden", "tokens")


@dataclass(frozen=True)
class PretrainedStudyConfig:
    """Sizes and choices of :func:`pretrained_study`. The defaults are the CPU budget of the ``full``
    profile (480 steps of batch 8 = 3,840 sentences seen per run, 10x the first study's 384; measured
    on 2 CPU cores: 16-20 min per baseline or KD unit, about 30 min per ECR+KD unit, about 3 h 15 min
    for the study); :meth:`for_profile` gives the ``fast`` (tests) and ``gpu`` sizes."""

    #: rows of the training split trained on (whole meaning units, topics balanced; None = all)
    train_rows: int | None = None
    #: rows of the validation / test split evaluated (None = all); 384 = 4 units x 12 topics x 8
    #: languages on the bundled corpus, the fewest a topic probe split by unit accepts
    val_rows: int | None = 384
    test_rows: int | None = 384
    #: rows of the validation split embedded at each evaluation during training (drift, claim C1)
    probe_rows: int = 384
    #: training rows the projection step is fitted on (hidden-state features: a forward pass each)
    projector_rows: int | None = 768
    steps: int = 480
    batch_size: int = 8
    #: the candidates for the learning rate (chosen per variant on validation, seed 0)
    learning_rates: tuple[float, ...] = (3e-4, 1e-3)
    #: the candidates for the number of steps: checkpoints along the one schedule of ``steps``
    step_candidates: tuple[int, ...] = (240, 480)
    variants: tuple[str, ...] = ("baseline/top", "kd/top", "ecr+kd/top")
    seeds: int = 2
    top_layers: int = 2
    max_length: int = 48
    #: test texts timed for the latency ratio (claim C6)
    overhead_texts: int = 32

    def __post_init__(self):
        unknown = [v for v in self.variants if v not in PRETRAINED_VARIANTS]
        if unknown:
            raise ValueError(f"unknown pretrained variants {unknown}; choose from {list(PRETRAINED_VARIANTS)}")
        if not self.learning_rates or any(not lr > 0 for lr in self.learning_rates):
            raise ValueError(f"learning_rates must be one or more positive rates, got {self.learning_rates}")
        c = self.step_candidates
        if not c or list(c) != sorted(set(c)) or c[0] < 1 or c[-1] != self.steps:
            raise ValueError(f"step_candidates must rise strictly and end at steps={self.steps}, got {c}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints: every step candidate is one of them."""
        return math.gcd(*self.step_candidates)

    @property
    def eval_every(self) -> int:
        """Steps between evaluations of the probe set: twice per checkpoint interval (when it is
        even), so that the late half of every candidate holds at least one kNN-churn reading (C1)."""
        ck = self.checkpoint_every
        return ck // 2 if ck % 2 == 0 else ck

    def fingerprint(self) -> dict:
        """What a cached unit depends on besides its name (every field; progress has none here)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def for_profile(cls, profile: Profile | str | None = None) -> PretrainedStudyConfig:
        """``full``: the defaults (CPU). ``fast``: a few steps on a subset (tests, smoke runs).
        ``gpu``: the whole corpus, batch 32, 1,500 steps, three rates, both training modes."""
        profile = get_profile(profile)
        if profile.name == "gpu":
            return cls(val_rows=None, test_rows=None, probe_rows=480, projector_rows=None, steps=1500, batch_size=32,
                       learning_rates=(1e-4, 3e-4, 1e-3), step_candidates=(500, 1000, 1500), seeds=3,
                       variants=tuple(PRETRAINED_VARIANTS))
        if profile.name == "fast":
            return cls(train_rows=384, projector_rows=384, steps=12, step_candidates=(6, 12), learning_rates=(3e-4,))
        return cls()


@dataclass
class _Context:
    """What every unit of the study shares: rows, teacher rows, the loaded model, where to write."""

    setup: Setup
    cfg: PretrainedStudyConfig
    tokenizer: object
    base: object
    train_texts: list[str]
    teacher_train: np.ndarray
    splits: dict[str, tuple[object, np.ndarray]]
    eval_set: EvalSet
    folder: Path
    runs_dir: Path
    progress: bool = True


def load_smollm2_with_cues(anchors, device: str = "auto"):
    """(tokenizer, model) of SmolLM2-135M with the cue tokens of ``anchors`` added (rows resized)."""
    from .config import get_device
    from .control_tokens import extend_model, extend_tokenizer
    from .student import load_smollm2

    tok, model = load_smollm2(device=get_device(device))
    extend_tokenizer(tok, anchors)
    model = extend_model(model, tok)
    model.config.ecr_preset = PRESET
    return tok, model


def unit_name(variant: str, seed: int, learning_rate: float) -> str:
    """The file stem of one unit: ``smollm2-135m-<variant>-lr<rate>-s<seed>``."""
    return f"{PRESET}-{variant.replace('/', '-')}-lr{learning_rate:g}-s{seed}"


def unit_config(ctx: _Context, variant: str, seed: int, learning_rate: float) -> TrainConfig:
    """The TrainConfig of one (variant, seed, rate): the whole schedule of ``cfg.steps`` steps."""
    cfg = ctx.cfg
    base_variant, trainable = PRETRAINED_VARIANTS[variant]
    condition, overrides = VARIANTS[base_variant]
    return TrainConfig(condition=condition, steps=cfg.steps, batch_size=cfg.batch_size, learning_rate=learning_rate,
                       warmup_steps=max(1, cfg.steps // 10), eval_every=cfg.eval_every,
                       checkpoint_every=cfg.checkpoint_every, keep_checkpoints=1, m_cues=ctx.setup.profile.m_cues,
                       seed=seed, trainable=trainable, top_layers=cfg.top_layers, cue_feature="hidden",
                       max_length=cfg.max_length, projector_rows=cfg.projector_rows, progress=ctx.progress,
                       **overrides)


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _long(ids: dict, view: str, values: dict) -> list[dict]:
    return [{**ids, "view": view, "metric": k, "value": float(v)} for k, v in values.items()]


def _token_feature_rows(run, ids: dict, ctx: _Context, corpus, teacher: np.ndarray, overhead: int
                        ) -> tuple[list[dict], np.ndarray]:
    """The views that depend on the projection step, with the mean token embedding as its feature
    (fitted on the same training rows): rows tagged ``cue_feature="tokens"``, and its cues (n, m)."""
    student = ECRModel(run.model, ctx.tokenizer, ctx.setup.anchors, m=run.student.m, cue_feature="tokens",
                       max_length=ctx.cfg.max_length)
    texts, t_rows = projector_rows(ctx.train_texts, ctx.teacher_train, run.config)
    student.fit_projector(texts, t_rows, run.config.projection)
    cues = student.cues(corpus.texts)
    as_tokens = replace(run, student=student)
    teacher_top = ctx.setup.anchors.assign(teacher, 1)[0][:, 0]
    rows = _long(ids, "projection", {"anchor_agreement": metrics.anchor_agreement(cues[:, 0], teacher_top),
                                     "anchor_chance": 1.0 / ctx.setup.anchors.k})
    x = run.student.encode(corpus.texts, cues=cues)
    rows += _long(ids, "ecr_inference", metrics.geometry_report(x, corpus, teacher))
    for view, values in control_views(as_tokens, None, corpus, teacher, ctx.setup.teacher_train,
                                      ctx.setup.train.topic_labels, cues=cues).items():
        rows += _long(ids, view, values)
    if overhead > 0:
        rows += _long(ids, "inference", inference_overhead(as_tokens, corpus.texts[:overhead]))
    return [{**r, "cue_feature": "tokens"} for r in rows], cues


def _evaluate_unit(run, ctx: _Context, variant: str, learning_rate: float, steps: int, name: str) -> pd.DataFrame:
    """Every view of one checkpoint on validation and test (long table, one row per number), and
    what the ``kd_plus_cue`` control needs saved beside (``<name>-step<steps>-<split>.npz``): a KD
    run's cue-free embeddings (n, h), an ECR run's projected cues (n, m) per feature."""
    run.meta["preset"] = PRESET
    parts = []
    for split, (corpus, teacher) in ctx.splits.items():
        overhead = ctx.cfg.overhead_texts if split == "test" else 0
        keep: dict = {}
        table = evaluate(run, corpus, teacher, overhead_texts=overhead, teacher_train=ctx.setup.teacher_train,
                         train_topics=ctx.setup.train.topic_labels, keep=keep)
        table["cue_feature"] = np.where(table.view.isin(FEATURE_VIEWS), run.config.cue_feature, "")
        arrays = {}  # what the kd_plus_cue control needs later: the KD student's embeddings, ECR's cues
        if run.config.condition == "kd":
            arrays["cue_free"] = keep["cue_free"].astype(np.float32)
        if "cues" in keep and run.config.uses_cues:
            arrays[f"cues_{run.config.cue_feature}"] = keep["cues"]
        ids = table.iloc[0][["run", "condition", "preset", "params", "seed"]].to_dict()
        extra = _long(ids, "training", {"step_time_s": float(run.history["step_time_s"].median()),
                                        "diverged": float(run.status == "diverged")})
        extra = [{**r, "cue_feature": ""} for r in extra]
        if run.config.uses_cues and run.student.projector is not None and run.student.projector.fitted:
            rows, arrays["cues_tokens"] = _token_feature_rows(run, ids, ctx, corpus, teacher, overhead)
            extra += rows
        if arrays:
            _save_arrays(ctx.folder / f"{name}-step{steps}-{split}.npz", arrays)
        parts.append(pd.concat([table, pd.DataFrame(extra)], ignore_index=True).assign(split=split))
    base_variant, trainable = PRETRAINED_VARIANTS[variant]
    return pd.concat(parts, ignore_index=True).assign(
        variant=variant, mode=MODES[trainable], learning_rate=learning_rate, steps=steps,
        batch_size=ctx.cfg.batch_size, sentences_seen=steps * ctx.cfg.batch_size,
        status="diverged" if run.status == "diverged" else "finished")  # a stop at a candidate is planned


def _unit(ctx: _Context, variant: str, seed: int, learning_rate: float, candidates: tuple[int, ...]
          ) -> list[pd.DataFrame]:
    """Train (variant, seed, rate) along its one schedule and evaluate it at each step candidate,
    each table cached; a stop resumes from the last checkpoint. Returns one table per candidate."""
    name = unit_name(variant, seed, learning_rate)
    tc = unit_config(ctx, variant, seed, learning_rate)
    run_dir = ctx.runs_dir / name
    tables = []
    for steps in candidates:
        def compute(steps=steps) -> pd.DataFrame:
            run = train(copy.deepcopy(ctx.base), ctx.tokenizer, ctx.train_texts, ctx.teacher_train, ctx.setup.anchors,
                        tc, out_dir=run_dir, eval_set=ctx.eval_set, name=name,
                        stop_at=steps if steps < tc.steps else None)
            if run.status == "interrupted" and tc.uses_cues:  # a checkpoint mid-schedule: its own projection step
                texts, t_rows = projector_rows(ctx.train_texts, ctx.teacher_train, tc)
                run.student.fit_projector(texts, t_rows, tc.projection)
            return _evaluate_unit(run, ctx, variant, learning_rate, steps, name)

        tables.append(cached_frame(ctx.folder / f"{name}-step{steps}.csv", compute))
        if (tables[-1]["status"] == "diverged").any():  # nothing left to train along this schedule
            break
    shutil.rmtree(run_dir, ignore_errors=True)  # every candidate's table is saved: the checkpoints are spent
    return tables


def _deployed(results: pd.DataFrame) -> pd.DataFrame:
    """The rows a variant is judged by: ECR at inference for cue variants, cue-free otherwise."""
    cue = results.condition.isin(CUE_CONDITIONS)
    return results[(cue & (results.view == "ecr_inference")) | (~cue & (results.view == "cue_free"))]


def choose_pretrained(results: pd.DataFrame, metric: str = CHOICE_METRIC) -> dict[str, dict]:
    """Per variant, the (learning rate, steps, cue feature) with the best validation ``metric``
    among seed 0's candidates, in its deployed view. Each choice carries its validation and test
    values (the test value is reported, never used to choose) and every candidate's validation value."""
    results = results.assign(cue_feature=results["cue_feature"].fillna(""))  # "" reads back from CSV as NaN
    sel = _deployed(results[(results.seed == 0) & (results.metric == metric) & results.variant.isin(PRETRAINED_VARIANTS)
                            & (results["status"] != "diverged")])  # a diverged unit is never chosen
    out = {}
    for variant, rows in sel.groupby("variant", sort=False):
        by = ["learning_rate", "steps", "cue_feature"]
        table = rows.pivot_table(index=by, columns="split", values="value", aggfunc="mean")
        if "val" not in table or table["val"].isna().all():
            continue
        lr, steps, feature = table["val"].idxmax()
        out[variant] = {"learning_rate": float(lr), "steps": int(steps), "cue_feature": feature or None,
                        "val": float(table.loc[(lr, steps, feature), "val"]),
                        "test": float(table.loc[(lr, steps, feature)].get("test", np.nan)),
                        "candidates": {f"lr={a:g} steps={b}" + (f" {c}" if c else ""): round(float(v), 4)
                                       for (a, b, c), v in table["val"].items()}}
    return out


def mark_chosen(results: pd.DataFrame, choices: dict[str, dict]) -> pd.Series:
    """True for the rows of each variant's chosen (rate, steps) and, where the projection step's
    feature matters, its chosen feature (the untouched model's rows are always chosen)."""
    keep = pd.Series(results.variant == "pretrained", index=results.index)
    for variant, c in choices.items():
        same = ((results.variant == variant) & np.isclose(results.learning_rate, c["learning_rate"])
                & (results.steps == c["steps"]))
        feature = c["cue_feature"] or "hidden"
        keep |= same & results.cue_feature.fillna("").isin(("", feature))
    return keep


def _kd_plus_cue(results: pd.DataFrame, ctx: _Context, choices: dict[str, dict]) -> pd.DataFrame:
    """The control "KD student + its cue" for every chosen ECR+KD row group: the KD run of the same
    mode and seed (at KD's chosen rate and steps), cue-free, joined with ECR's projected cue; from the
    saved arrays, no forward pass."""
    rows = []
    for variant, c in choices.items():
        base_variant, trainable = PRETRAINED_VARIANTS[variant]
        kd_variant = f"kd/{'top' if trainable == 'cues+top' else 'full'}"
        if VARIANTS[base_variant][0] != "ecr+kd" or kd_variant not in choices:
            continue
        kd = choices[kd_variant]
        ecr_rows = results[(results.variant == variant) & np.isclose(results.learning_rate, c["learning_rate"])
                           & (results.steps == c["steps"])]
        for seed in sorted(ecr_rows.seed.unique()):
            kd_name = unit_name(kd_variant, int(seed), kd["learning_rate"])
            ecr_name = unit_name(variant, int(seed), c["learning_rate"])
            ids = ecr_rows[ecr_rows.seed == seed].iloc[0][["run", "condition", "preset", "params", "seed"]].to_dict()
            for split, (corpus, teacher) in ctx.splits.items():
                kd_path = ctx.folder / f"{kd_name}-step{kd['steps']}-{split}.npz"
                ecr_path = ctx.folder / f"{ecr_name}-step{c['steps']}-{split}.npz"
                if not (kd_path.exists() and ecr_path.exists()):
                    continue
                x_kd, arrays = np.load(kd_path)["cue_free"], np.load(ecr_path)
                for feature in CUE_FEATURES:
                    if f"cues_{feature}" not in arrays:
                        continue
                    rep = student_plus_cue_report(x_kd, arrays[f"cues_{feature}"], ctx.setup.anchors.k, corpus, teacher)
                    rows += [{**r, "cue_feature": feature, "split": split, "variant": variant,
                              "mode": MODES[trainable], "learning_rate": c["learning_rate"], "steps": c["steps"],
                              "batch_size": ctx.cfg.batch_size, "sentences_seen": c["steps"] * ctx.cfg.batch_size,
                              "status": "finished"} for r in _long(ids, "kd_plus_cue", rep)]  # both units finished: chosen
    return pd.DataFrame(rows)


def _reference(ctx: _Context) -> pd.DataFrame:
    """The untouched pretrained model's cue-free metrics on validation and test."""
    from .evaluation import ID_COLUMNS
    from .student import embed, n_parameters

    parts = []
    for split, (corpus, teacher) in ctx.splits.items():
        x = embed(ctx.base, ctx.tokenizer, corpus.texts, max_length=ctx.cfg.max_length, batch_size=32, progress=False)
        rep = metrics.geometry_report(x, corpus, teacher)
        ids = {"run": f"{PRESET}-pretrained", "condition": "pretrained", "preset": PRESET,
               "params": n_parameters(ctx.base), "seed": 0, "view": "cue_free"}
        parts.append(pd.DataFrame([{**ids, "metric": k, "value": float(v)} for k, v in rep.items()],
                                  columns=ID_COLUMNS).assign(split=split))
    return pd.concat(parts, ignore_index=True).assign(variant="pretrained", mode="untouched", cue_feature="",
                                                      learning_rate=0.0, steps=0, batch_size=0, sentences_seen=0,
                                                      status="pretrained")


STAMP = "study.json"


def _check_stamp(folder: Path, cfg: PretrainedStudyConfig, setup: Setup, train_texts: list[str]) -> None:
    """The cached units of ``folder`` belong to one configuration (sizes, profile, training texts,
    anchors): written on first use, and a later call with another one is refused, naming the fix."""
    import json

    from ._io import atomic_write_json, sha256_texts

    stamp = {"config": cfg.fingerprint(), "profile": setup.profile.name, "train_texts_sha256": sha256_texts(train_texts),
             "anchors_sha256": setup.anchors.fingerprint()}
    stamp = json.loads(json.dumps(stamp))  # as it reads back (tuples become lists)
    path = folder / STAMP
    if path.exists():
        saved = json.loads(path.read_text())
        if saved != stamp:
            diff = [k for k in stamp if saved.get(k) != stamp[k]]
            raise ValueError(f"{folder} holds a pretrained study of another configuration (differs in {diff}); "
                             "use another --out folder, or delete that one to start afresh")
    elif any(folder.glob("*.csv")):
        raise ValueError(f"{folder} holds tables without {STAMP} (an older study); use another --out folder")
    else:
        atomic_write_json(path, stamp)


def pretrained_study(setup: Setup, out: str | os.PathLike = "ecr_study", seeds: int | None = None,
                     config: PretrainedStudyConfig | None = None, load: Callable[[], tuple] | None = None,
                     progress: bool = True) -> pd.DataFrame:
    """The SmolLM2 study (module docstring). ``load()`` returns (tokenizer, model) with the anchors'
    cue tokens added (default: SmolLM2 from the offline GGUF; tests pass a tiny local model).

    Returns one long table (the columns of :func:`ecr_lab.evaluation.evaluate` plus ``split``,
    ``variant``, ``mode``, ``learning_rate``, ``steps``, ``batch_size``, ``sentences_seen``,
    ``cue_feature``, ``status`` and ``chosen``); ``attrs["choices"]`` holds :func:`choose_pretrained`.
    """
    cfg = config or PretrainedStudyConfig.for_profile(setup.profile)
    seeds = cfg.seeds if seeds is None else seeds
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    train_c = probe_subset(setup.train, cfg.train_rows) if cfg.train_rows else setup.train
    splits = {}
    for split, corpus, teacher, rows in (("val", setup.val, setup.teacher_val, cfg.val_rows),
                                         ("test", setup.test, setup.teacher_test, cfg.test_rows)):
        sub = probe_subset(corpus, rows) if rows else corpus
        splits[split] = (sub, teacher[rows_of(sub, corpus)])
    val_c, t_val = splits["val"]
    probe = probe_subset(val_c, cfg.probe_rows)
    out = Path(out)
    folder, runs_dir = out / "pretrained", out / "pretrained_runs"
    folder.mkdir(parents=True, exist_ok=True)
    tok, base = (load or (lambda: load_smollm2_with_cues(setup.anchors)))()
    ctx = _Context(setup=setup, cfg=cfg, tokenizer=tok, base=base, train_texts=train_c.texts,
                   teacher_train=setup.teacher_train[rows_of(train_c, setup.train)], splits=splits,
                   eval_set=EvalSet(probe, t_val[rows_of(probe, val_c)]), folder=folder, runs_dir=runs_dir,
                   progress=progress)
    _check_stamp(folder, cfg, setup, ctx.train_texts)
    tables = [cached_frame(folder / f"{PRESET}-pretrained.csv", lambda: _reference(ctx))]
    for variant in cfg.variants:  # 1. seed 0: every candidate, chosen on validation
        for lr in cfg.learning_rates:
            tables += _unit(ctx, variant, 0, lr, cfg.step_candidates)
    choices = choose_pretrained(pd.concat(tables, ignore_index=True))
    for seed in range(1, seeds):  # 2. the other seeds at each variant's choice
        for variant in cfg.variants:
            if variant in choices:
                c = choices[variant]
                tables += _unit(ctx, variant, seed, c["learning_rate"], (c["steps"],))
    res = pd.concat(tables, ignore_index=True)
    res = pd.concat([res, _kd_plus_cue(res, ctx, choices)], ignore_index=True)
    res["cue_feature"] = res["cue_feature"].fillna("")
    res["chosen"] = mark_chosen(res, choices)
    res.attrs["choices"] = choices
    return res


def chosen_test(results: pd.DataFrame) -> pd.DataFrame:
    """The test rows of the chosen configurations (what the report and the claims read)."""
    return results[results.chosen.astype(bool) & (results.split == "test")]


def pretrained_claims(results: pd.DataFrame) -> pd.DataFrame:
    """Claims C1-C4 and C6 for each training mode: ECR+KD against the baseline and KD trained the
    same way, on the test split at the chosen configurations, paired by seed (C5 needs a model ~3x
    larger and is left out). The cue-control rows (not in the verdict) come along."""
    test = chosen_test(results)
    parts = []
    for mode, sub in test[test.variant != "pretrained"].groupby("mode", sort=False):
        if "ecr+kd" not in set(sub.condition) or sub.condition.nunique() < 2:
            continue
        controls = [c for c in ("baseline", "kd") if c in set(sub.condition)]
        table = claims_table(sub, ecr_condition="ecr+kd", controls=controls)
        parts.append(table[table.claim != "C5"].assign(mode=mode))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def cue_reading(results: pd.DataFrame, metrics_shown: tuple[str, ...] = ("topic_probe", "retrieval_at_1",
                                                                          "cross_lingual_transfer")) -> pd.DataFrame:
    """Does the model read its cues? Per mode and metric, on the test split at the chosen
    configurations, paired by seed: the ECR+KD run with teacher cues (oracle) and with its projected
    cues (ECR at inference) against the same run cue-free and against the baseline, with 95 %
    Student-t intervals and the verdict words of :mod:`ecr_lab.stats`."""
    test = chosen_test(results)
    rows = []

    def per_seed(sub: pd.DataFrame, condition: str, view: str, metric: str) -> pd.Series:
        s = sub[(sub.condition == condition) & (sub.view == view) & (sub.metric == metric)]
        return s.groupby("seed")["value"].mean()

    for mode, sub in test[test.condition.isin(("ecr+kd", "baseline"))].groupby("mode", sort=False):
        for metric in metrics_shown:
            for side, view in (("oracle", "oracle"), ("ECR at inference", "ecr_inference")):
                for against, (cond, v) in (("same run, cue-free", ("ecr+kd", "cue_free")),
                                           ("baseline, cue-free", ("baseline", "cue_free"))):
                    a, b = per_seed(sub, "ecr+kd", view, metric), per_seed(sub, cond, v, metric)
                    common = a.index.intersection(b.index)
                    a, b = a.loc[common], b.loc[common]
                    if not len(a) or not len(b):
                        continue
                    d = paired_difference(a, b, "higher")
                    rows.append({"mode": mode, "metric": metric, "cues": side, "against": against,
                                 "with cues": mean_std(a.to_numpy()), "without": mean_std(b.to_numpy()),
                                 "difference": d.mean, "ci_low": d.low, "ci_high": d.high, "seeds": d.n,
                                 "verdict": verdict(d)})
    return pd.DataFrame(rows)


def cue_reading_trend(results: pd.DataFrame, metric: str = CHOICE_METRIC) -> pd.DataFrame:
    """The oracle's lift over the same run cue-free along training (seed 0, validation, every
    learning rate and step candidate of each ECR variant): where the trend points."""
    sel = results[(results.seed == 0) & (results.split == "val") & (results.metric == metric)
                  & (results.condition == "ecr+kd") & results.view.isin(("oracle", "cue_free"))]
    if sel.empty:
        return pd.DataFrame()
    wide = sel.pivot_table(index=["variant", "learning_rate", "steps", "sentences_seen"], columns="view",
                           values="value", aggfunc="mean").reset_index()
    wide["oracle_lift"] = wide["oracle"] - wide["cue_free"]
    return wide


def feature_table(results: pd.DataFrame) -> pd.DataFrame:
    """The projection step's two features side by side for each ECR variant, on the test split at
    its chosen rate and steps (mean ± std over seeds): anchor agreement, ECR at inference and the
    latency ratio over the cue-free forward pass; ``chosen`` marks the validation winner."""
    choices = results.attrs.get("choices") or choose_pretrained(results)
    shown = {("projection", "anchor_agreement"): "anchor agreement",
             ("ecr_inference", "topic_probe"): "topic probe", ("ecr_inference", "retrieval_at_1"): "retrieval@1",
             ("inference", "latency_ratio"): "latency ratio", ("inference", "ms_per_text_ecr"): "ms per text (ECR)"}
    rows = []
    for variant, c in choices.items():
        if c["cue_feature"] is None:  # no cues: its post-hoc projection step is not the deployed system
            continue
        sel = results[(results.variant == variant) & (results.split == "test") & (results.steps == c["steps"])
                      & np.isclose(results.learning_rate, c["learning_rate"])]
        for feature in CUE_FEATURES:
            f = sel[sel.cue_feature.fillna("") == feature]
            if f.empty:
                continue
            row = {"variant": variant, "cue feature": feature, "chosen": feature == c["cue_feature"]}
            for (view, metric), label in shown.items():
                vals = f[(f.view == view) & (f.metric == metric)].groupby("seed")["value"].mean().to_numpy()
                row[label] = mean_std(vals) if len(vals) else ""
            rows.append(row)
    return pd.DataFrame(rows)
