"""The lesson notebooks' small computations (ecr_lab.lesson_data), on synthetic clusters and a tiny
made-up corpus (no teacher, no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import clustered

from ecr_lab import anchors, lesson_data
from ecr_lab.anchors import AnchorSet
from ecr_lab.data import Corpus


def test_spherical_objective_is_the_inertia_and_one_lloyd_step_lowers_it():
    x, _ = clustered(n_per=30, k=4, d=12, noise=0.3)
    a = anchors.derive_anchors(x, 4, seed=0, n_init=1)
    assert lesson_data.spherical_objective(x, a.vectors) == pytest.approx(a.inertia, rel=1e-4)
    start = x[[0, 1, 2, 3]]  # four rows of one cluster: a poor start
    after = anchors._spherical_lloyd(x, start, max_iter=1, tol=0.0)[0]
    assert lesson_data.spherical_objective(x, after) < lesson_data.spherical_objective(x, start)
    assert lesson_data.spherical_objective(x, x) == pytest.approx(0.0, abs=1e-4)  # every row its own centre
    assert lesson_data.spherical_objective(2 * x, 3 * a.vectors) == pytest.approx(a.inertia, rel=1e-4)  # normalised
    with pytest.raises(ValueError):
        lesson_data.spherical_objective(x, a.vectors[:, :5])


def test_purity_against_chance_matches_the_sweep_and_chance_rises_with_k():
    x, labels = clustered(n_per=40, k=4, d=16, noise=0.1)
    topics = np.array([f"t{i}" for i in labels], dtype=object)
    ks = [2, 4, 16]
    table = lesson_data.purity_against_chance(x, ks, topics, seed=0, n_init=2, shuffles=3)
    assert list(table.columns) == ["k", "topic_purity", "shuffled_purity", "shuffled_sd", "excess_purity"]
    sweep = anchors.sweep_k(x, ks, seed=0, n_init=2, topics=topics)
    np.testing.assert_allclose(table.topic_purity, sweep.topic_purity)  # the same anchors as the sweep's
    assert table.topic_purity.iloc[1] == pytest.approx(1.0)  # 4 well-separated clusters, 4 anchors
    assert table.shuffled_purity.is_monotonic_increasing and table.shuffled_purity.iloc[0] < 0.4
    np.testing.assert_allclose(table.excess_purity, table.topic_purity - table.shuffled_purity)
    again = lesson_data.purity_against_chance(x, ks, topics, seed=0, n_init=2, shuffles=3)
    pd.testing.assert_frame_equal(table, again)  # seeded
    with pytest.raises(ValueError, match="mismatched lengths"):
        lesson_data.purity_against_chance(x, ks, topics[:-1])
    with pytest.raises(ValueError, match="shuffles"):
        lesson_data.purity_against_chance(x, ks, topics, shuffles=0)


def test_choose_k_takes_the_largest_excess_and_the_smaller_k_on_a_tie():
    table = pd.DataFrame({"k": [8, 12, 24, 48], "excess_purity": [0.3, 0.5, 0.61, 0.6]})
    assert lesson_data.choose_k(table) == 24
    assert lesson_data.choose_k(table.assign(excess_purity=[0.3, 0.6, 0.6, 0.6])) == 12
    assert lesson_data.choose_k(table.assign(silhouette=[0.4, 0.3, 0.2, 0.1]), "silhouette") == 8
    with pytest.raises(ValueError, match="excess_purity"):
        lesson_data.choose_k(table.drop(columns="excess_purity"))


def _tiny():
    """Two meaning units in 4 languages; unit 1's ar row sits nearer anchor 1."""
    langs = ["en", "de", "zh", "ar"]
    corpus = Corpus.from_records(
        [{"text": f"u{u} {lang}", "lang": lang, "topic": "food", "pair_id": u} for u in (0, 1) for lang in langs])
    vecs = np.eye(3, dtype=np.float32)
    emb = np.array([vecs[0] + 0.1 * vecs[2]] * 4 + [vecs[0] + 0.2 * vecs[1]] * 3 + [vecs[1] + 0.1 * vecs[0]],
                   dtype=np.float32)
    a = AnchorSet(vectors=vecs[:2], sizes=np.array([7, 1]))
    return corpus, emb, a


def test_translation_table_shows_every_language_and_its_cues():
    corpus, emb, a = _tiny()
    first = lesson_data.translation_table(corpus, emb, a)
    assert list(first.columns) == ["lang", "text", "cues", "cosine", "shares_top1"]
    assert first.lang.tolist() == ["en", "de", "zh", "ar"] and first.text.iloc[0] == "u0 en"
    assert (first.cues == "<ecr_0>").all() and first.shares_top1.all()
    split = lesson_data.translation_table(corpus, emb, a, pair_id="1", m=2)
    assert split.cues.tolist() == ["<ecr_0> <ecr_1>"] * 3 + ["<ecr_1> <ecr_0>"]
    assert split.shares_top1.tolist() == [True, True, True, False]
    assert split.cosine.iloc[3] == "1.00, 0.10"
    with pytest.raises(ValueError, match="pair_id .7."):
        lesson_data.translation_table(corpus, emb, a, pair_id="7")
    with pytest.raises(ValueError, match="mismatched lengths"):
        lesson_data.translation_table(corpus, emb[:3], a)


def test_distinct_top1_per_unit():
    corpus, emb, a = _tiny()
    per_unit = lesson_data.distinct_top1_per_unit(corpus, emb, a)
    assert per_unit.to_dict() == {"0": 1, "1": 2} and per_unit.name == "distinct_top1"
    assert per_unit.idxmax() == "1"  # the unit whose translations split
    with pytest.raises(ValueError, match="mismatched lengths"):
        lesson_data.distinct_top1_per_unit(corpus, emb[:3], a)


def test_smollm2_parameter_count_adds_up():
    vocab, width, layers, ffn, kv = 49_152, 576, 30, 1_536, 3 * 64
    attention = 2 * width * width + 2 * width * kv
    assert lesson_data.SMOLLM2_PARAMETERS == vocab * width + layers * (attention + 3 * width * ffn + 2 * width) + width
