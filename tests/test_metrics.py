"""Metrics: property tests (hypothesis) for invariances, unit tests for each function."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ecr_lab import metrics as M

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)


def matrices(min_rows=6, max_rows=20, min_cols=2, max_cols=8):
    return st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols)).flatmap(
        lambda s: arrays(np.float64, s, elements=finite)
    ).filter(lambda x: np.linalg.norm(x - x.mean(0)) > 1e-3 * max(1.0, np.abs(x).max()))


def rotation(d, seed):
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0]


@settings(max_examples=40, deadline=None)
@given(matrices())
def test_cka_self_is_one(x):
    assert M.linear_cka(x, x) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(matrices(), st.integers(0, 1000), st.floats(0.01, 100))
def test_cka_invariant_to_rotation_and_scale(x, seed, scale):
    y = np.random.default_rng(seed).standard_normal((len(x), 5))
    base = M.linear_cka(x, y)
    xr = scale * x @ rotation(x.shape[1], seed)
    assert M.linear_cka(xr, y) == pytest.approx(base, abs=1e-6)
    assert M.linear_cka(x, 3.0 * y @ rotation(5, seed + 1)) == pytest.approx(base, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(matrices(), matrices())
def test_cka_in_unit_interval(x, y):
    n = min(len(x), len(y))
    v = M.linear_cka(x[:n], y[:n])
    assert 0.0 <= v <= 1.0


def test_cka_gram_and_feature_forms_agree(rng):
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((30, 3))
    wide = rng.standard_normal((30, 50))
    assert M.linear_cka(x, y) == pytest.approx(M.linear_cka(x, y))  # feature form
    v = M.linear_cka(x, wide)  # gram form (n < d)
    xc, wc = x - x.mean(0), wide - wide.mean(0)
    ref = np.linalg.norm(wc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(wc.T @ wc))
    assert v == pytest.approx(ref)


@settings(max_examples=15, deadline=None)
@given(st.integers(8, 40), st.integers(0, 100))
def test_effective_rank_isotropic_vs_rank_one(n, seed):
    r = np.random.default_rng(seed)
    iso = np.linalg.qr(r.standard_normal((n, n)))[0] * np.sqrt(n)  # orthogonal rows: flat spectrum
    iso = np.vstack([iso, -iso])  # centred, spectrum still flat
    assert M.effective_rank(iso) == pytest.approx(n, rel=1e-6)
    rank1 = np.outer(r.standard_normal(n), r.standard_normal(n))
    assert M.effective_rank(rank1) == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 1000))
def test_anisotropy_isotropic_vs_collapsed(seed):
    r = np.random.default_rng(seed)
    assert abs(M.anisotropy(r.standard_normal((400, 64)), seed=seed)) < 0.05
    collapsed = 5.0 + 0.05 * r.standard_normal((400, 64))
    assert M.anisotropy(collapsed, seed=seed) > 0.95


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(0, 1000))
def test_retrieval_identical_sides_is_one(units, seed):
    x = np.random.default_rng(seed).standard_normal((units, 6))
    both = np.vstack([x, x])
    pid = list(range(units)) * 2
    lang = ["en"] * units + ["de"] * units
    assert M.retrieval_at_1(both, pid, lang) == 1.0


def test_retrieval_language_collapse_is_low(rng):
    units = 40
    meaning = rng.standard_normal((units, 8))
    en = np.hstack([meaning * 0.01, np.tile([10, 0], (units, 1))]) + rng.standard_normal((units, 10))
    de = np.hstack([meaning * 0.01, np.tile([0, 10], (units, 1))]) + rng.standard_normal((units, 10))
    v = M.retrieval_at_1(np.vstack([en, de]), list(range(units)) * 2, ["en"] * units + ["de"] * units)
    assert v < 0.2


def test_anisotropy_exact_small():
    x = np.array([[1.0, 0], [0, 1.0], [1.0, 0]])
    assert M.anisotropy(x) == pytest.approx((0 + 1 + 0) / 3)


def test_knn_overlap(rng):
    x = rng.standard_normal((50, 6))
    assert M.knn_overlap(x, x @ rotation(6, 1), k=5) == pytest.approx(1.0)
    assert M.knn_overlap(x, rng.standard_normal((50, 6)), k=5) < 0.4
    with pytest.raises(ValueError, match="k must be"):
        M.knn_overlap(x, x, k=50)


def test_anchor_agreement():
    assert M.anchor_agreement([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    with pytest.raises(ValueError, match="mismatched lengths"):
        M.anchor_agreement([1, 2], [1])


def test_probes_and_majority(rng):
    y = np.repeat(["a", "b", "c"], 40)
    x = rng.standard_normal((120, 5)) + 4 * (y[:, None] == np.array(["a", "b", "c"])[None, :])[:, :3].astype(float) @ np.eye(3, 5)
    groups = np.arange(120) // 2
    assert M.topic_probe(x, y, groups) > 0.9
    assert M.probe_accuracy(rng.standard_normal((120, 5)), y, seed=1) < 0.6
    assert M.majority_rate(["a", "a", "b", None]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 distinct labels"):
        M.probe_accuracy(x, ["a"] * 120)


def test_silhouette_sign(rng):
    y = np.repeat([0, 1], 50)
    sep = rng.standard_normal((100, 4)) * 0.1 + np.where(y[:, None] == 0, 1.0, -1.0) * np.array([1, 0, 0, 0])
    assert M.silhouette(sep, y) > 0.5
    assert abs(M.silhouette(rng.standard_normal((100, 4)), y)) < 0.1


def test_drift_and_procrustes(rng):
    x = rng.standard_normal((40, 6))
    same = M.drift(x, 2 * x @ rotation(6, 3) + 1)
    assert same["drift_cka"] == pytest.approx(0, abs=1e-9) and same["procrustes_disparity"] == pytest.approx(0, abs=1e-9)
    other = M.drift(x, rng.standard_normal((40, 6)))
    assert other["drift_cka"] > 0.5 and other["procrustes_disparity"] > 0.5
    assert 0 <= M.procrustes_disparity(x, rng.standard_normal((40, 3))) <= 1


def test_stability_summary():
    loss = [2.0] * 30 + [5.0] + [2.0] * 10 + [float("nan")]
    g = [1.0] * 40 + [100.0, float("inf")]
    s = M.stability_summary(g, loss)
    assert s["loss_spikes"] == 1 and s["nonfinite_steps"] == 2 and s["grad_norm_max"] == 100.0
    assert s["grad_norm_p99_over_median"] > 1
    with pytest.raises(ValueError):
        M.stability_summary([], [])


@pytest.mark.parametrize("fn", [M.anisotropy, M.effective_rank])
def test_bad_input(fn):
    with pytest.raises(ValueError, match="NaN"):
        fn(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="non-empty"):
        fn(np.zeros((0, 3)))


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="mismatched lengths"):
        M.linear_cka(np.ones((3, 2)), np.ones((4, 2)))


def test_geometry_report_on_teacher(corpus, corpus_embeddings):
    sub = corpus.subset(units_per_topic=10)
    from ecr_lab.experiment import rows_of

    x = corpus_embeddings[rows_of(sub, corpus)]
    rep = M.geometry_report(x, sub, teacher=x)
    assert rep["cka_to_teacher"] == pytest.approx(1.0)
    assert rep["retrieval_at_1"] > 0.8 and rep["topic_probe"] > 0.6
    assert rep["language_probe"] < 1.0


def test_cross_lingual_transfer(rng):
    topics = np.repeat(["a", "b", "c"], 20)
    meaning = {"a": np.eye(6)[0], "b": np.eye(6)[1], "c": np.eye(6)[2]}
    rows, langs, tops = [], [], []
    for lang, offset in (("en", 0.0), ("de", 3.0)):
        for t in topics:
            rows.append(3 * meaning[t] + offset * np.eye(6)[5] + 0.3 * rng.standard_normal(6))
            langs.append(lang)
            tops.append(t)
    shared = np.array(rows)
    assert M.cross_lingual_transfer(shared, tops, langs) > 0.9
    # language-only space: the head learned on en cannot read de
    lang_only = np.array([[1.0 if lg == "en" else -1.0] + list(rng.standard_normal(5)) for lg in langs])
    assert M.cross_lingual_transfer(lang_only, tops, langs) < 0.6
    with pytest.raises(ValueError, match="labelled rows in 'ja'"):
        M.cross_lingual_transfer(shared, tops, langs, source="ja")


def test_probe_needs_two_units_per_label_on_each_side(rng):
    """A probe split by pair_id with 1 unit of a topic tests a topic it never trained on: an error,
    never a silent number."""
    topics = np.repeat(["a", "b", "c"], 8)  # 2 units per topic, 4 rows (languages) each
    groups = np.repeat(np.arange(6), 4)
    x = rng.standard_normal((24, 5))
    with pytest.raises(ValueError, match="at least 2 meaning units"):
        M.topic_probe(x, topics, groups)
    ok_topics = np.repeat(["a", "b", "c"], 16)  # 4 units per topic: 2 on each side
    ok_groups = np.repeat(np.arange(12), 4)
    assert 0 <= M.topic_probe(rng.standard_normal((48, 5)), ok_topics, ok_groups) <= 1
