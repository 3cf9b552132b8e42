"""Reference solutions and plausible wrong answers for every exercise, on small stand-ins.

For each notebook, :func:`stand_ins` builds small versions of the variables its exercise cells read
(no teacher, no training: synthetic rows with the structure the notebook shows, and fakes of the
ECR model and the widgets with the methods the cells call). For each exercise, :data:`REFERENCES`
holds ``solution(env)`` (the answers of a learner who got it right) and ``wrong`` cases: a label,
``wrong(env)`` (answers with a plausible mistake) and a substring of the hint its failure must show.

``tests/test_exercises.py`` runs the exercise cells of ``ecr_lab.exercises.cells`` on the stand-ins
(placeholders: "not attempted yet"), then the solution (passes) and each wrong answer (fails, with
its hint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ecr_lab import anchors as anc
from ecr_lab.data import Corpus
from ecr_lab.vectors import l2_normalize

Answers = dict[str, Any]


@dataclass(frozen=True)
class Wrong:
    """A plausible mistake: its answers (given the stand-in namespace) and a substring of its hint."""

    label: str
    answers: Callable[[dict], Answers]
    hint: str


@dataclass(frozen=True)
class Right:
    """Another correct answer, one a learner may well write (it must pass as the reference does)."""

    label: str
    answers: Callable[[dict], Answers]


@dataclass(frozen=True)
class Reference:
    """An exercise's reference solution, its wrong answers and other right answers."""

    solution: Callable[[dict], Answers]
    wrong: tuple[Wrong, ...]
    right: tuple[Right, ...] = ()


# -- stand-ins --------------------------------------------------------------------------------------------

def _unit_rows(x: np.ndarray) -> np.ndarray:
    return l2_normalize(x).astype(np.float32)


def small_corpus(topics: int, units: int, langs: tuple[str, ...]) -> Corpus:
    """topics x units meaning units, each said in every language (rows ordered topic, unit, language)."""
    return Corpus.from_records([
        {"text": f"topic {t} unit {u} in {lang}", "lang": lang, "topic": f"topic{t}", "pair_id": f"t{t}-u{u}"}
        for t in range(topics) for u in range(units) for lang in langs
    ])


@cache
def _nb01() -> dict:
    """12 meaning units in 3 languages. Teacher: one direction per unit (translations together), except
    unit 1, whose rows point at unit 2's. Student: one direction per language, plus a shared offset
    (anisotropic), except unit 0, whose rows share one direction (it keeps its translations)."""
    langs = ("en", "de", "fr")
    corpus = small_corpus(4, 3, langs)
    rng = np.random.default_rng(0)
    unit = pd.factorize(corpus.pair_ids)[0]
    lang = pd.factorize(corpus.langs)[0]
    unit_dirs = rng.standard_normal((unit.max() + 1, 16))
    unit_dirs[1] = unit_dirs[2]
    teacher = _unit_rows(unit_dirs[unit] + 0.05 * rng.standard_normal((len(unit), 16)))
    lang_dirs = rng.standard_normal((len(langs), 16))
    student = lang_dirs[lang] + 0.3 * rng.standard_normal((len(unit), 16)) + 2.0
    student[unit == 0] = 5.0 * rng.standard_normal(16) + 0.01 * rng.standard_normal((int((unit == 0).sum()), 16))
    spaces = {"teacher (USE v3)": teacher, "student micro": student.astype(np.float32) * 1.1,
              "student nano": student.astype(np.float32)}
    return {"spaces": spaces, "probe": SimpleNamespace(corpus=corpus, teacher_embeddings=teacher),
            "profile": SimpleNamespace(collapse_presets=("micro", "nano"))}


@cache
def _nb02() -> dict:
    """4 topics x 6 units x 4 languages (96 rows), K = 6. Rows sit on their topic's direction, except
    topic 3 in Arabic (a cluster of one language) and every topic's unit 0 (one cluster mixing topics)."""
    langs = ("en", "de", "zh", "ar")
    corpus = small_corpus(4, 6, langs)
    rng = np.random.default_rng(1)
    topic = pd.factorize(corpus.topic_labels)[0]
    unit = np.array([int(p.split("-u")[1]) for p in corpus.pair_ids])
    dirs = np.eye(24)[:6] * 3.0
    which = topic.copy()
    which[(topic == 3) & (corpus.langs == "ar")] = 4
    which[unit == 0] = 5
    emb = _unit_rows(dirs[which] + 0.3 * rng.standard_normal((len(topic), 24)))
    a = anc.derive_anchors(emb, 6, seed=0, n_init=2)
    return {"corpus": corpus, "emb": emb, "A": a, "anc": anc, "pd": pd, "session": SimpleNamespace(seed=0),
            "profile": SimpleNamespace(k_sweep=(2, 12)), "described": a.describe(corpus, emb)}


class FakeECR:
    """An ECR student whose embedding is language-dominated noise, plus (when cues are given) one
    coordinate per cue anchor: teacher cues carry the topic in, zero cues change nothing."""

    def __init__(self, corpus: Corpus, k: int, m: int = 2):
        rng = np.random.default_rng(2)
        lang = pd.factorize(corpus.langs)[0]
        self.base = {t: 3.0 * np.eye(8)[i] + rng.standard_normal(8)
                     for t, i in zip(corpus.texts, lang, strict=True)}
        self.k, self.m = k, m

    def encode(self, texts, cues=None) -> np.ndarray:
        x = np.stack([self.base[t] for t in texts])
        if cues is None:
            return x
        hot = np.zeros((len(texts), self.k))
        for j in range(np.asarray(cues).shape[1]):
            hot[np.arange(len(texts)), np.asarray(cues)[:, j]] += 4.0
        return np.hstack([x, hot])


@cache
def _nb03() -> dict:
    """A test split of 4 topics x 6 units x 3 languages, teacher rows on their topic's direction, K = 4
    anchors, a fake ECR student, and projected cues that agree with the teacher on about half the rows."""
    corpus = small_corpus(4, 6, ("en", "de", "fr"))
    rng = np.random.default_rng(3)
    topic = pd.factorize(corpus.topic_labels)[0]
    teacher = _unit_rows(np.eye(12)[topic] * 3.0 + 0.3 * rng.standard_normal((len(topic), 12)))
    a = anc.derive_anchors(teacher, 4, seed=0, n_init=2)
    teacher_top = a.assign(teacher, 1)[0][:, 0]
    projected = np.where(np.arange(len(topic)) % 2 == 0, teacher_top, (teacher_top + 1) % 4)[:, None]
    setup = SimpleNamespace(test=corpus, teacher_test=teacher, anchors=a)
    return {"setup": setup, "ecr": FakeECR(corpus, 4), "projected": projected[:, 0], "teacher_top": teacher_top,
            "profile": SimpleNamespace(m_cues=2)}


class FakeDrift:
    """Checkpoints 0, 40, 80, 120 of 60 probe rows: the map is remade between 0 and 40, then only nudged.
    Its evaluations logged the kNN churn to the checkpoint before, as a training run does."""

    def __init__(self):
        from ecr_lab import metrics

        rng = np.random.default_rng(4)
        first, second = rng.standard_normal((60, 16)), rng.standard_normal((60, 16))
        self.steps = [0, 40, 80, 120]
        self._emb = {0: first, 40: second, 80: second + 0.01 * rng.standard_normal((60, 16)),
                     120: second + 0.02 * rng.standard_normal((60, 16))}
        self.probe = SimpleNamespace(texts=[f"probe sentence {i}" for i in range(60)])
        churn = [np.nan] + [metrics.knn_churn(self._emb[a], self._emb[b]) for a, b in zip(self.steps[:-1], self.steps[1:], strict=True)]
        self.evals = pd.DataFrame({"step": self.steps, "knn_churn_prev": churn})

    def embeddings(self, step: int) -> np.ndarray:
        return self._emb[step]

    def churn(self, run=None) -> dict[str, float]:
        from ecr_lab.evaluation import knn_churn_halves

        return knn_churn_halves(self.evals)


class FakeProjector:
    """A projection step's scores: softmax(similarity / T) over K anchors, similarities from a fixed map."""

    def __init__(self, k: int, dim: int):
        self.w = np.random.default_rng(5).standard_normal((dim, k))

    def scores(self, features: np.ndarray, temperature: float = 0.1) -> np.ndarray:
        from ecr_lab.projection import softmax

        return softmax(l2_normalize(features) @ l2_normalize(self.w.T).T / temperature, axis=1).astype(np.float32)


class FakeStudent:
    """A student feature per text: deterministic noise."""

    def cue_features(self, texts) -> np.ndarray:
        import zlib

        return np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(10) for t in texts])


@cache
def _nb04() -> dict:
    run = SimpleNamespace(anchors=SimpleNamespace(k=24), config=SimpleNamespace(m_cues=2),
                          projector=FakeProjector(24, 10), student=FakeStudent())
    return {"drift": FakeDrift(), "cues": SimpleNamespace(k=SimpleNamespace(options=(8, 12, 24, 48))), "run": run,
            "np": np}  # imported by exercise 4.1's cell


def stand_ins(notebook: str) -> dict:
    """A fresh namespace with small stand-ins of the variables ``notebook``'s exercise cells read."""
    builders = {"01_collapse": _nb01, "02_anchors": _nb02, "03_training": _nb03, "04_drift_widgets": _nb04}
    return dict(builders[notebook]())


# -- learners' functions: right ------------------------------------------------------------------------------

def effective_rank(X):
    x = np.asarray(X, dtype=float)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    if s.sum() <= 0:
        return 1.0
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def lloyd_step(X, C):
    sims = X @ C.T
    labels = sims.argmax(1)
    best = sims[np.arange(len(X)), labels]
    new = np.zeros_like(C)
    for j in range(len(C)):
        new[j] = X[labels == j].sum(0)
    empty = [j for j in range(len(C)) if not (labels == j).any()]
    worst = np.argsort(best)
    for rank, j in enumerate(empty):
        new[j] = X[worst[rank]]
    return new / np.linalg.norm(new, axis=1, keepdims=True)


def agreement(projected, teacher):
    p, t = np.asarray(projected).reshape(-1), np.asarray(teacher).reshape(-1)
    if len(p) != len(t):
        raise ValueError("mismatched lengths")
    return float(np.mean(p == t))


def procrustes_align(Y, X):
    u, _, vt = np.linalg.svd(Y.T @ X)
    return Y @ (u @ vt)


def procrustes_align_centred(Y, X):
    """As ecr_lab.widgets.align_frames does: centre both maps, then rotate (the result is centred)."""
    yc, xc = Y - Y.mean(0), X - X.mean(0)
    u, _, vt = np.linalg.svd(yc.T @ xc)
    return yc @ (u @ vt)


def procrustes_align_centred_in_x_frame(Y, X):
    """Centred, rotated, then moved onto X's mean."""
    return procrustes_align_centred(Y, X) + X.mean(0)


# -- learners' functions: wrong -------------------------------------------------------------------------------

def rank_uncentred(X):
    s = np.linalg.svd(np.asarray(X, dtype=float), compute_uv=False)
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def rank_squares(X):
    x = np.asarray(X, dtype=float)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    if s.sum() <= 0:
        return 1.0
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def rank_entropy(X):
    return float(np.log(effective_rank(X)))


def rank_no_zero_guard(X):
    x = np.asarray(X, dtype=float)
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / s.sum()
        return float(np.exp(-(p * np.log(p)).sum()))


def lloyd_unnormalised(X, C):
    return lloyd_step(X, C) * 2.0


def lloyd_argmin(X, C):
    labels = (X @ C.T).argmin(1)
    new = np.array([X[labels == j].sum(0) if (labels == j).any() else C[j] for j in range(len(C))])
    return new / np.linalg.norm(new, axis=1, keepdims=True)


def lloyd_keeps_empty(X, C):
    labels = (X @ C.T).argmax(1)
    new = np.array([X[labels == j].sum(0) if (labels == j).any() else C[j] for j in range(len(C))])
    return new / np.linalg.norm(new, axis=1, keepdims=True)


def lloyd_nan_empty(X, C):
    labels = (X @ C.T).argmax(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        new = np.array([X[labels == j].mean(0) if (labels == j).any() else np.zeros(X.shape[1])
                        for j in range(len(C))])
        return new / np.linalg.norm(new, axis=1, keepdims=True)


def lloyd_with_labels(X, C):
    return lloyd_step(X, C), (X @ C.T).argmax(1)


def agreement_count(projected, teacher):
    return int((np.asarray(projected).reshape(-1) == np.asarray(teacher).reshape(-1)).sum())


def agreement_disagree(projected, teacher):
    return 1.0 - agreement(projected, teacher)


def agreement_broadcast(projected, teacher):
    return float(np.mean(np.asarray(projected) == np.asarray(teacher)))


def agreement_lenient(projected, teacher):
    try:
        return agreement(projected, teacher)
    except ValueError:
        return 0.0


def align_scipy_standardised(Y, X):
    from scipy.spatial import procrustes

    return procrustes(X, Y)[1]  # both maps centred AND scaled to norm 1 before the rotation


def align_centred_transposed(Y, X):
    yc, xc = Y - Y.mean(0), X - X.mean(0)
    u, _, vt = np.linalg.svd(yc.T @ xc)
    return yc @ (u @ vt).T


def align_lstsq(Y, X):
    return Y @ np.linalg.lstsq(Y, X, rcond=None)[0]


def align_transposed(Y, X):
    u, _, vt = np.linalg.svd(Y.T @ X)
    return Y @ (u @ vt).T


def align_rotation_only(Y, X):
    u, _, vt = np.linalg.svd(Y.T @ X)
    return u @ vt


def align_nothing(Y, X):
    return Y


# -- answers that need the stand-ins -------------------------------------------------------------------------

def _nn(x: np.ndarray) -> np.ndarray:
    from ecr_lab.exercises import nearest_neighbour

    return nearest_neighbour(x)


def _lost_rows(env: dict) -> tuple[int, int, int]:
    """(a row the student lost, a row it kept, a row the teacher itself gets wrong) of the 01 stand-ins."""
    pid = env["probe"].corpus.pair_ids
    t_ok = pid[_nn(env["spaces"]["teacher (USE v3)"])] == pid
    s_ok = pid[_nn(env["spaces"]["student nano"])] == pid
    s_ok_any = s_ok & (pid[_nn(env["spaces"]["student micro"])] == pid)
    return (int(np.flatnonzero(t_ok & ~s_ok)[0]), int(np.flatnonzero(t_ok & s_ok_any)[0]),
            int(np.flatnonzero(~t_ok)[0]))


def _anchor_of(env: dict, rows: np.ndarray) -> int:
    ids = env["A"].similarities(env["emb"][rows]).argmax(1)
    assert len(set(ids.tolist())) == 1, "the 02 stand-ins should put these rows under one anchor"
    return int(ids[0])


def _good_anchor(env: dict) -> int:
    c = env["corpus"]
    return _anchor_of(env, np.flatnonzero((c.topic_labels == "topic0") & (c.pair_ids != "t0-u0")))


def _one_language_anchor(env: dict) -> int:
    c = env["corpus"]
    return _anchor_of(env, np.flatnonzero((c.topic_labels == "topic3") & (c.langs == "ar")
                                          & (c.pair_ids != "t3-u0")))


def _mixed_anchor(env: dict) -> int:
    c = env["corpus"]
    return _anchor_of(env, np.flatnonzero(np.char.endswith(c.pair_ids.astype(str), "-u0")))


def _agreeing_row(env: dict) -> int:
    return int(np.flatnonzero(np.asarray(env["projected"]) == np.asarray(env["teacher_top"]))[0])


def _disagreeing_row(env: dict) -> int:
    return int(np.flatnonzero(np.asarray(env["projected"]) != np.asarray(env["teacher_top"]))[0])


REFERENCES: dict[str, Reference] = {
    # -- 01 --
    "ex01_rank": Reference(
        lambda env: {"effective_rank": effective_rank},
        (Wrong("not centred", lambda env: {"effective_rank": rank_uncentred}, "did not centre"),
         Wrong("squared singular values", lambda env: {"effective_rank": rank_squares}, "squared singular values"),
         Wrong("entropy, not its exp", lambda env: {"effective_rank": rank_entropy}, "is exp(H)"),
         Wrong("0 log 0", lambda env: {"effective_rank": rank_no_zero_guard}, "return 1.0"),
         Wrong("not a function", lambda env: {"effective_rank": 3.2}, "must be a function")),
    ),
    "ex01_centring": Reference(
        lambda env: {"pred_centring": "anisotropy"},
        (Wrong("predicts both", lambda env: {"pred_centring": "both"}, "but the measurement says"),
         Wrong("right words, other measurement", lambda env: {
             "pred_centring": "anisotropy",
             "centring_measured": {"anisotropy": (0.01, 0.0), "language_probe": (0.9, 0.9)}},
             "the measurement says \"neither\""),
         Wrong("not a choice", lambda env: {"pred_centring": "the probe"}, "must be one of"),
         Wrong("measurement lost", lambda env: {"centring_measured": [0.5, 0.0]}, "experiment cell")),
    ),
    "ex01_neighbours": Reference(
        lambda env: {"i_lost": _lost_rows(env)[0], "why_lost": "b"},
        (Wrong("size causes it", lambda env: {"i_lost": _lost_rows(env)[0], "why_lost": "a"}, "confounded"),
         Wrong("a row the student kept", lambda env: {"i_lost": _lost_rows(env)[1], "why_lost": "b"},
               "survived the collapse"),
         Wrong("a row the teacher gets wrong", lambda env: {"i_lost": _lost_rows(env)[2], "why_lost": "b"},
               "which is not its translation"),
         Wrong("out of range", lambda env: {"i_lost": 10_000, "why_lost": "b"}, "out of range"),
         Wrong("a text, not a row", lambda env: {"i_lost": "topic 0 unit 1 in en", "why_lost": "b"}, "must be an int")),
    ),
    # -- 02 --
    "ex02_shuffled": Reference(
        lambda env: {"pred_shuffled": "rises"},
        (Wrong("flat at chance", lambda env: {"pred_shuffled": "flat"}, "but the measurement says"),
         Wrong("right words, other measurement", lambda env: {"pred_shuffled": "rises",
                                                               "shuffled_purity": {2: 0.3, 12: 0.3}},
               "the measurement says \"flat\""),
         Wrong("one K only", lambda env: {"shuffled_purity": {12: 0.4}}, "at least two K")),
    ),
    "ex02_lloyd": Reference(
        lambda env: {"lloyd_step": lloyd_step},
        (Wrong("not normalised", lambda env: {"lloyd_step": lloyd_unnormalised}, "not unit length"),
         Wrong("argmin", lambda env: {"lloyd_step": lloyd_argmin}, "LEAST similar"),
         Wrong("empty centroid kept", lambda env: {"lloyd_step": lloyd_keeps_empty}, "kept it where it was"),
         Wrong("empty centroid nan", lambda env: {"lloyd_step": lloyd_nan_empty}, "0/0"),
         Wrong("labels returned too", lambda env: {"lloyd_step": lloyd_with_labels}, "returned a tuple")),
    ),
    "ex02_read_anchor": Reference(
        lambda env: {"meaning_anchor": _good_anchor(env), "why_mixed": "a"},
        (Wrong("one-language anchor", lambda env: {"meaning_anchor": _one_language_anchor(env), "why_mixed": "a"},
               "leans towards some languages"),
         Wrong("topic-mixed anchor", lambda env: {"meaning_anchor": _mixed_anchor(env), "why_mixed": "a"},
               "mixes topics"),
         Wrong("teacher blind to language", lambda env: {"meaning_anchor": _good_anchor(env), "why_mixed": "b"},
               "can tell languages apart")),
    ),
    "ex02_translations": Reference(
        lambda env: {"pred_translations": "all"},
        (Wrong("predicts few", lambda env: {"pred_translations": "few"}, "but the measurement says"),
         Wrong("right words, other measurement", lambda env: {
             "pred_translations": "all", "translation_cues": pd.Series([1, 1, 2, 3], index=["en", "de", "zh", "ar"])},
             "2 of the 4 translations"),
         Wrong("measurement lost", lambda env: {"translation_cues": "anchor 3"}, "experiment cell")),
    ),
    # -- 03 --
    "ex03_agreement": Reference(
        lambda env: {"agreement": agreement},
        (Wrong("a count", lambda env: {"agreement": agreement_count}, "divide by n"),
         Wrong("disagreement", lambda env: {"agreement": agreement_disagree}, "DISAGREE"),
         Wrong("(n, 1) == (n,)", lambda env: {"agreement": agreement_broadcast}, "reshape(-1)"),
         Wrong("silent on mismatched lengths", lambda env: {"agreement": agreement_lenient}, "should raise")),
    ),
    "ex03_disagree": Reference(
        lambda env: {"i_disagree": _disagreeing_row(env), "why_disagree": "a"},
        (Wrong("a row where they agree", lambda env: {"i_disagree": _agreeing_row(env), "why_disagree": "a"},
               "they agree there"),
         Wrong("blames the teacher", lambda env: {"i_disagree": _disagreeing_row(env), "why_disagree": "b"},
               "fitted to imitate"),
         Wrong("random cues", lambda env: {"i_disagree": _disagreeing_row(env), "why_disagree": "d"},
               "deterministic")),
    ),
    "ex03_oracle_m0": Reference(
        lambda env: {"pred_m0": "cue_free"},
        (Wrong("oracle unchanged", lambda env: {"pred_m0": "oracle"}, "no cue token is prepended"),
         Wrong("right words, other measurement", lambda env: {
             "pred_m0": "cue_free", "m0_measured": {"m": 1, "cue_free": 0.2, "oracle": 0.6, "chosen": 0.45}},
             "the measurement says \"between\""),
         Wrong("measurement lost", lambda env: {"m0_measured": {"m": 0}}, "experiment cell")),
    ),
    # -- 04 --
    "ex04_align": Reference(
        lambda env: {"procrustes_align": procrustes_align},
        (Wrong("least squares", lambda env: {"procrustes_align": align_lstsq}, "changed the distances"),
         Wrong("transposed rotation", lambda env: {"procrustes_align": align_transposed}, "transpose"),
         Wrong("returns R", lambda env: {"procrustes_align": align_rotation_only}, "that is the rotation R"),
         Wrong("returns Y", lambda env: {"procrustes_align": align_nothing}, "unchanged"),
         Wrong("centred and scaled (scipy.spatial.procrustes)", lambda env: {"procrustes_align": align_scipy_standardised},
               "changed the distances"),
         Wrong("centred, transposed rotation", lambda env: {"procrustes_align": align_centred_transposed}, "transpose")),
        (Right("centres both maps first", lambda env: {"procrustes_align": procrustes_align_centred}),
         Right("centres, rotates, moves onto X's mean", lambda env: {"procrustes_align": procrustes_align_centred_in_x_frame})),
    ),
    "ex04_churn": Reference(
        lambda env: {"pred_churn": "early"},
        (Wrong("predicts late", lambda env: {"pred_churn": "late"}, "but the measurement says"),
         Wrong("right words, other measurement", lambda env: {"pred_churn": "early",
                                                               "churn_measured": {"early": 0.3, "late": 0.31}},
               "the measurement says \"same\""),
         Wrong("measurement lost", lambda env: {"churn_measured": 0.3}, "experiment cell")),
    ),
    "ex04_temperature": Reference(
        lambda env: {"pred_temperature": "same"},
        (Wrong("predicts a change", lambda env: {"pred_temperature": "change"}, "increasing in s"),
         Wrong("right words, other measurement", lambda env: {
             "pred_temperature": "same", "temperature_measured": {"sentences": 60, "m": 2, "changed": 3}},
             "the measurement says \"change\""),
         Wrong("measurement lost", lambda env: {"temperature_measured": [3, 1]}, "experiment cell"),
         Wrong("impossible count", lambda env: {"temperature_measured": {"sentences": 6, "m": 2, "changed": 9}},
               "cannot be")),
    ),
    "ex04_k_tokens": Reference(
        lambda env: {"k_trained": 24, "why_k": "b"},
        (Wrong("the slider's largest K", lambda env: {"k_trained": 48, "why_k": "b"}, "holds 24 cue tokens"),
         Wrong("tokens added on the fly", lambda env: {"k_trained": 24, "why_k": "a"}, "extended once"),
         Wrong("retrains", lambda env: {"k_trained": 24, "why_k": "c"}, "never trains")),
    ),
}
