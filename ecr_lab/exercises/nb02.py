"""Checks of notebook 02 (anchors): one spherical Lloyd step by hand, what purity means on shuffled
labels, whether translations share a cue, and reading an anchor.

Each public function is one otter test case (``checks/ex02_*.py`` calls it) and raises
``AssertionError`` with a teaching message when the answer is wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..anchors import lloyd_step as library_lloyd_step
from ..vectors import l2_normalize
from .feedback import (
    Choice,
    as_function,
    as_index,
    as_matrix,
    call,
    fail,
    multiple_choice,
    predicted,
    words,
)

# -- ex02_lloyd: one spherical Lloyd step ---------------------------------------------------------------------

LLOYD_SIGNATURE = "lloyd_step(X, C)"
LLOYD_TOL = 1e-4


def _lloyd_variants(x: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    """What the usual mistakes return (only the ones a check can tell apart)."""
    out = {}
    labels = (x @ c.T).argmin(1)
    sums = np.zeros_like(c)
    np.add.at(sums, labels, x)
    out["argmin"] = l2_normalize(np.where(np.abs(sums).sum(1, keepdims=True) > 0, sums, c))
    return out


def _unit_rows(c: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-4))


def _lloyd_case(fn: Any, x: np.ndarray, c: np.ndarray, what: str, empty: int | None = None) -> None:
    fn = as_function(fn, "lloyd_step", LLOYD_SIGNATURE)
    expected = library_lloyd_step(x, c).astype(np.float64)  # derive_anchors' own step
    got = as_matrix(call(fn, "lloyd_step", x, c), "lloyd_step", c.shape, "the new centroids, one row per centroid")
    if np.allclose(got, expected, atol=LLOYD_TOL):
        return
    if empty is not None:
        row = got[empty]
        if not np.isfinite(row).all() or not row.any():
            fail(f"for {what}, centroid {empty} owns no row and your step made it {row[:3]}…: a sum of no rows "
                 "divided by its norm is 0/0. derive_anchors re-seeds an empty centroid on the row worst served "
                 "by its own centroid: the row whose largest cosine (X @ C.T).max(1) is smallest.")
        if np.allclose(row, c[empty], atol=LLOYD_TOL):
            fail(f"for {what}, centroid {empty} owns no row and you kept it where it was; then it stays useless "
                 "for ever. derive_anchors re-seeds it on the row worst served by its own centroid: the row "
                 "whose largest cosine (X @ C.T).max(1) is smallest (for a 2nd empty centroid, the 2nd worst).")
    if not np.isfinite(got).all():
        fail(f"for {what} your centroids contain nan or inf: does a division by a zero norm or a zero count happen?")
    if not _unit_rows(got):
        norms = np.linalg.norm(got, axis=1)
        fail(f"for {what} your centroids are not unit length (norms {norms.min():.3f} … {norms.max():.3f}): the "
             "spherical Lloyd step normalises each mean, C_new[j] = m / ||m||, so the anchors stay on the sphere "
             "and cosine stays a dot product.")
    if np.allclose(got, _lloyd_variants(x, c)["argmin"], atol=LLOYD_TOL):
        fail(f"for {what} you assigned each row to its LEAST similar centroid: a row belongs to the centroid of "
             "largest cosine, (X @ C.T).argmax(1).")
    worst = int(np.abs(got - expected).max(1).argmax())
    fail(f"for {what} your centroids differ from derive_anchors' step (centroid {worst} most, by "
         f"{np.abs(got - expected).max():.3g}). The step: labels = (X @ C.T).argmax(1); for each centroid j, "
         "m = X[labels == j].sum(0) and C_new[j] = m / ||m||.")


def lloyd_random(lloyd_step: Any) -> None:
    """60 random unit rows in 8 dimensions, 4 centroids started on 4 of the rows."""
    x = l2_normalize(np.random.default_rng(3).standard_normal((60, 8))).astype(np.float32)
    _lloyd_case(lloyd_step, x, x[[0, 15, 30, 45]].copy(), "60 random unit rows and 4 centroids")


def lloyd_empty_cluster(lloyd_step: Any) -> None:
    """Three clusters and a 4th centroid that points away from every row (it owns none)."""
    rng = np.random.default_rng(4)
    dirs = np.eye(6)[:3] + 0.3
    x = l2_normalize(dirs[np.repeat(np.arange(3), 10)] + 0.1 * rng.standard_normal((30, 6))).astype(np.float32)
    c = np.vstack([l2_normalize(dirs), l2_normalize(-x.mean(0, keepdims=True))]).astype(np.float32)
    _lloyd_case(lloyd_step, x, c, "3 clusters and a 4th centroid that owns no row", empty=3)


# -- ex02_shuffled: topic purity on shuffled labels ----------------------------------------------------------

SHUFFLED_CHOICES = {
    "rises": Choice("it rises with K, as the true topic purity does"),
    "flat": Choice("it stays flat, at chance (1/12 with 12 topics) for every K"),
    "falls": Choice("it falls as K grows"),
}
SHUFFLED_TOL = 0.005


def shuffled_prediction(pred_shuffled: Any, shuffled_purity: Any) -> None:
    """The prediction against the purity of shuffled topic labels at the smallest and largest K."""
    if not isinstance(shuffled_purity, Mapping) or len(shuffled_purity) < 2:
        fail("`shuffled_purity` should map at least two K to a purity ({K: purity}); run the experiment cell "
             "unchanged, then this cell again")
    ks = sorted(shuffled_purity)
    lo, hi = float(shuffled_purity[ks[0]]), float(shuffled_purity[ks[-1]])
    outcome = "rises" if hi - lo > SHUFFLED_TOL else "falls" if lo - hi > SHUFFLED_TOL else "flat"
    predicted(pred_shuffled, "pred_shuffled", SHUFFLED_CHOICES, [outcome],
              f"with shuffled topics, purity is {lo:.3f} at K={ks[0]} and {hi:.3f} at K={ks[-1]}",
              "The smaller a cluster, the more often its majority label wins by chance, so purity rises "
              "with K even for labels that mean nothing. Read the sweep's topic purity against this "
              "baseline, not against 1/12: the gap between the two is what the anchors know about topics.")


# -- ex02_translations: do translations share a cue? ------------------------------------------------------------

TRANSLATION_CHOICES = {
    "all": Choice("every translation gets the same top-1 anchor"),
    "most": Choice("most (more than half) share one anchor, a few do not"),
    "few": Choice("half of them or fewer share an anchor"),
}


def translation_prediction(pred_translations: Any, translation_cues: Any) -> None:
    """The prediction against the top-1 anchors of one sentence's translations."""
    try:
        ids = np.asarray(translation_cues).reshape(-1)
    except (TypeError, ValueError):
        ids = np.array([])
    if len(ids) < 2 or not np.issubdtype(ids.dtype, np.integer):
        fail("`translation_cues` should hold the top-1 anchor of each translation (at least two ints); run the "
             "experiment cell unchanged, then this cell again")
    top, count = Counter(ids.tolist()).most_common(1)[0]
    share = count / len(ids)
    outcome = "all" if count == len(ids) else "most" if share > 0.5 else "few"
    langs = list(getattr(translation_cues, "index", []))
    pairs = (", ".join(f"{lang}: {a}" for lang, a in zip(langs, ids, strict=True)) if len(langs) == len(ids)
             else words(ids))
    predicted(pred_translations, "pred_translations", TRANSLATION_CHOICES, [outcome],
              f"{count} of the {len(ids)} translations get anchor {top} ({pairs})",
              "The anchors are the teacher's, and the teacher puts translations next to each other, so "
              "translations mostly share their cue; one that does not sits near the border of two anchors "
              "(compare its cosines to both).")


# -- ex02_read_anchor: an anchor that carries meaning, not language --------------------------------------------

WHY_MIXED = {
    "a": Choice("A language-mixed, topic-pure anchor says what a sentence means whatever language it is written "
                "in: translations share the cue, which is exactly the structure a collapsed student lacks."),
    "b": Choice("The teacher cannot tell languages apart, so its anchors cannot help mixing them.",
                "the teacher can tell languages apart (a language probe on it does well); its space is just "
                "organised by meaning first, so clusters of it are too."),
    "c": Choice("K is too small to give each language an anchor of its own.",
                "with K well above 8 there is room for one anchor per language; k-means does not make them "
                "because the teacher's space is not organised by language."),
}
WHY_MIXED_ANSWER = "a"
MIN_TOPIC_SHARE = 0.5


def meaning_anchor_check(meaning_anchor: Any, A: Any, emb: Any, corpus: Any) -> None:
    """Anchor ``meaning_anchor`` owns sentences of every language, and one topic holds at least half of them."""
    if A is None or emb is None or corpus is None:
        fail("this check reads `A`, `emb` and `corpus` from the notebook: run the cells above first")
    a = as_index(meaning_anchor, "meaning_anchor", A.k, "an anchor id")
    members = np.flatnonzero(A.similarities(emb).argmax(1) == a)  # as A.describe assigns them
    if len(members) == 0:
        fail(f"anchor {a} owns no sentence; choose one with a large `size` in `described`")
    langs = set(np.asarray(corpus.langs, dtype=object)[members])
    all_langs = list(corpus.languages)
    topics = Counter(t for t in np.asarray(corpus.topic_labels, dtype=object)[members] if t is not None)
    if len(langs) < len(all_langs):
        missing = ", ".join(sorted(set(all_langs) - langs))
        fail(f"anchor {a} has sentences in {len(langs)} of the {len(all_langs)} languages (none in {missing}): "
             "it leans towards some languages. Choose one whose `n_langs` in `described` is "
             f"{len(all_langs)}.")
    topic, n_top = topics.most_common(1)[0] if topics else (None, 0)
    if n_top < MIN_TOPIC_SHARE * len(members):
        fail(f"anchor {a} mixes topics: its largest topic ({topic}) holds {n_top} of its {len(members)} "
             f"sentences ({n_top / len(members):.0%}). Choose one whose `topic_purity` is at least "
             f"{MIN_TOPIC_SHARE} and whose `n_langs` is {len(all_langs)}.")


def why_mixed_answer(why_mixed: Any) -> None:
    """Why good anchors mix languages."""
    multiple_choice(why_mixed, "why_mixed", WHY_MIXED, WHY_MIXED_ANSWER)
