"""Anchors: spherical k-means, assignment, description, persistence, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import clustered

from ecr_lab.anchors import (
    AnchorSet,
    derive_anchors,
    purity,
    spherical_kmeans,
    sweep_k,
)


def test_recovers_clusters_and_is_deterministic():
    x, y = clustered(k=4)
    a = derive_anchors(x, 4, seed=7)
    b = derive_anchors(x, 4, seed=7)
    assert np.array_equal(a.vectors, b.vectors) and np.array_equal(a.labels, b.labels)
    assert purity(y, a.labels) == 1.0
    assert np.allclose(np.linalg.norm(a.vectors, axis=1), 1, atol=1e-5)
    assert a.sizes.tolist() == sorted(a.sizes.tolist(), reverse=True) and a.sizes.sum() == len(x)


def test_more_restarts_never_worse():
    x, _ = clustered(k=6, noise=0.4, seed=3)
    one = spherical_kmeans(x, 6, seed=0, n_init=1)[2]
    many = spherical_kmeans(x, 6, seed=0, n_init=6)[2]
    assert many <= one + 1e-6


def test_assign_top_m():
    x, y = clustered(k=4)
    a = derive_anchors(x, 4)
    ids, scores = a.assign(x, m=2)
    assert ids.shape == scores.shape == (len(x), 2)
    assert np.array_equal(ids[:, 0], a.labels)
    assert (scores[:, 0] >= scores[:, 1]).all()


@pytest.mark.parametrize(
    "x, k, match",
    [
        (np.ones((3, 4)), 5, "K=5 is larger than the number of rows"),
        (np.ones((3, 4)), 1, "K must be an int >= 2"),
        (np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 1.0]]), 2, "NaN or inf"),
        (np.array([[1.0, np.inf], [0.0, 1.0], [1.0, 1.0]]), 2, "NaN or inf"),
        (np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), 2, "all-zero row"),
        (np.zeros((0, 4)), 2, "no rows"),
        (np.ones(4), 2, "2-D"),
    ],
)
def test_bad_input(x, k, match):
    with pytest.raises(ValueError, match=match):
        derive_anchors(x, k)


def test_assign_errors():
    x, _ = clustered(k=3, d=8)
    a = derive_anchors(x, 3)
    with pytest.raises(ValueError, match="dimension mismatch"):
        a.assign(np.ones((2, 5)), m=1)
    with pytest.raises(ValueError, match="between 1 and K=3"):
        a.assign(x, m=4)
    with pytest.raises(ValueError, match="between 1 and K=3"):
        a.assign(x, m=0)


def test_save_load_roundtrip_and_errors(tmp_path):
    x, _ = clustered(k=3, d=8)
    a = derive_anchors(x, 3, seed=5, teacher="t", corpus_hash="abc")
    a.save(tmp_path / "anc")
    b = AnchorSet.load(tmp_path / "anc")
    assert np.array_equal(a.vectors, b.vectors) and b.teacher == "t" and b.seed == 5 and b.corpus_hash == "abc"
    from ecr_lab.projection import load_bundle

    anchors, proj = load_bundle(tmp_path / "anc")
    assert proj is None and anchors.k == 3
    meta_path = tmp_path / "anc" / "anchors.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version=99.*upgrade ecr_lab"):
        AnchorSet.load(tmp_path / "anc")
    meta["format_version"], meta["format"] = 1, "something.else"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not an ecr_lab.anchors artifact"):
        AnchorSet.load(tmp_path / "anc")
    meta["format"] = "ecr_lab.anchors"
    meta_path.write_text(json.dumps(meta))
    (tmp_path / "anc" / "anchors.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(ValueError, match="missing or corrupt"):
        AnchorSet.load(tmp_path / "anc")
    meta_path.write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        AnchorSet.load(tmp_path / "anc")
    with pytest.raises(FileNotFoundError):
        AnchorSet.load(tmp_path / "nowhere")


def test_interrupted_save_keeps_previous(tmp_path, monkeypatch):
    x, _ = clustered(k=3, d=8)
    a = derive_anchors(x, 3, seed=1)
    a.save(tmp_path / "anc")
    import ecr_lab.anchors as mod

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mod, "atomic_write_json", boom)
    b = derive_anchors(x, 3, seed=2)
    with pytest.raises(OSError, match="disk full"):
        b.save(tmp_path / "anc")
    assert np.array_equal(AnchorSet.load(tmp_path / "anc").vectors, a.vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["anc"]


def test_sweep_k_table():
    x, y = clustered(k=4, n_per=30)
    langs = np.tile(["en", "de"], len(y) // 2)
    t = sweep_k(x, [2, 4, 8], topics=y, langs=langs)
    assert list(t.columns) == ["k", "inertia", "silhouette", "topic_purity", "lang_purity"]
    assert t.inertia.is_monotonic_decreasing
    assert t.set_index("k").loc[4, "topic_purity"] == 1.0
    assert t.set_index("k").loc[4, "silhouette"] > t.set_index("k").loc[2, "silhouette"]


def test_bundled_anchors_are_topic_pure_and_language_mixed(corpus, corpus_embeddings):
    """The opposite of collapse: teacher anchors group meaning across languages."""
    a = derive_anchors(corpus_embeddings, 24, seed=0)
    topic_purity = purity(corpus.topic_labels, a.labels)
    lang_purity = purity(corpus.langs, a.labels)
    assert topic_purity > 0.6, topic_purity
    assert lang_purity < 0.5, lang_purity
    d = a.describe(corpus, corpus_embeddings, n_exemplars=1)
    assert len(d) == 24 and d["size"].sum() == len(corpus)
    assert (d["n_langs"] >= 4).mean() > 0.75
    big = d.iloc[0]
    assert len(big["exemplars"]) >= 4 and all(isinstance(v[0], str) for v in big["exemplars"].values())


def test_spherical_lloyd_refines_to_a_fixed_point():
    """The Lloyd refinement after scikit-learn's k-means must run: the returned centres are a fixed
    point of one more spherical Lloyd step (each centre is the normalised mean of its rows), and the
    objective is lower than that of scikit-learn's normalised centres. (It used to stop before its
    first step: ``inf - inertia <= tol * inf`` holds.) Clusters of unequal spread make the two
    differ: Euclidean k-means on unit rows favours the tighter clusters' (longer) means."""
    from sklearn.cluster import KMeans

    from ecr_lab.anchors import _spherical_lloyd
    from ecr_lab.vectors import l2_normalize

    rng = np.random.default_rng(0)
    centres = l2_normalize(rng.normal(size=(6, 16)))
    spread = [(150, 0.2), (150, 1.5), (60, 0.3), (60, 1.0), (40, 0.1), (40, 2.0)]
    x = l2_normalize(np.concatenate([c + s * rng.normal(size=(n, 16)) / 4 for c, (n, s) in zip(centres, spread, strict=True)]))
    x = x.astype(np.float32)
    centers, labels, inertia = spherical_kmeans(x, 6, seed=0, n_init=2)
    means = np.stack([x[labels == j].sum(0) for j in range(6)])
    assert np.allclose(l2_normalize(means), centers, atol=1e-4)
    start = l2_normalize(KMeans(6, n_init=2, random_state=0).fit(x).cluster_centers_).astype(np.float32)
    unrefined = _spherical_lloyd(x, start, max_iter=0, tol=1e-6)[2]  # no step: scikit-learn's centres
    assert inertia < unrefined - 0.5  # measured: 104.10 -> 103.38


def test_anchor_fingerprint_and_derivation_version(tmp_path):
    from ecr_lab.anchors import DERIVATION_VERSION

    x, _ = clustered(k=4)
    a = derive_anchors(x, 4, seed=0)
    assert a.derivation == DERIVATION_VERSION
    b = AnchorSet.load(a.save(tmp_path / "a"))
    assert b.derivation == DERIVATION_VERSION and b.fingerprint() == a.fingerprint()
    assert derive_anchors(x, 4, seed=1).fingerprint() != a.fingerprint() or np.array_equal(
        derive_anchors(x, 4, seed=1).vectors, a.vectors)
    meta = json.loads((tmp_path / "a" / "anchors.json").read_text())
    meta.pop("derivation")
    (tmp_path / "a" / "anchors.json").write_text(json.dumps(meta))
    assert AnchorSet.load(tmp_path / "a").derivation == 1  # written before the refinement ran


def test_lloyd_step_is_one_step_of_the_refinement():
    """The public step: assign by cosine, normalised sums, an empty centre re-seeded on the worst-served
    row; the same centres as one iteration of the library's loop, and the objective never rises."""
    from ecr_lab.anchors import _spherical_lloyd, lloyd_step
    from ecr_lab.vectors import l2_normalize

    x, _ = clustered(k=4)
    start = x[[0, 1, 2, 3]].copy()
    new = lloyd_step(x, start)
    assert new.shape == start.shape and new.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(new, axis=1), 1.0, atol=1e-5)
    labels = (x @ start.T).argmax(1)
    sums = np.stack([x[labels == j].sum(0) for j in range(4)])
    np.testing.assert_allclose(new, l2_normalize(sums), atol=1e-5)
    np.testing.assert_array_equal(new, _spherical_lloyd(x, start, max_iter=1, tol=-1.0)[0])

    def objective(c):
        return float((1 - (x @ c.T).max(1)).sum())

    assert objective(new) <= objective(start) + 1e-4
    # a 4th centre pointing away from every row owns none: it moves onto the worst-served row
    away = l2_normalize(-x.mean(0, keepdims=True))
    three = np.vstack([new[:3], away])
    stepped = lloyd_step(x, three)
    served = (x @ three.T).max(1)
    np.testing.assert_allclose(stepped[3], x[served.argmin()], atol=1e-5)
    with pytest.raises(ValueError, match="width"):
        lloyd_step(x, start[:, :3])
