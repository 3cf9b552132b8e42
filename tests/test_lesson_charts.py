"""The lesson notebooks' own charts (ecr_lab.lesson_charts): valid Vega-Lite that renders, on tiny
made-up histories and tables (no training, no teacher)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ecr_lab import lesson_charts, viz


def _renders(chart) -> dict:
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    png = viz.to_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    return spec


def _history(start: float, end: float, steps: int = 12) -> pd.DataFrame:
    step = np.arange(1, steps + 1)
    return pd.DataFrame({"step": step, "loss": np.linspace(start, end, steps), "grad_norm": 1.0})


def _datasets(spec: dict) -> list[dict]:
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_loss_curves_one_line_per_run_and_the_uniform_guess():
    spec = _renders(lesson_charts.loss_curves({"student micro": _history(8.3, 6.2), "student nano": _history(8.3, 6.6)},
                                              vocab_size=4000, smooth=3))
    rows = _datasets(spec)
    assert {r["label"] for r in rows if "label" in r} == {"student micro", "student nano"}
    guess = [r for r in rows if "reference" in r]
    assert len(guess) == 1 and guess[0]["loss"] == pytest.approx(math.log(4000))
    assert "8.29" in guess[0]["reference"]
    assert "Training loss of the students" in str(spec)


def test_loss_curves_without_a_vocabulary_and_errors():
    spec = lesson_charts.loss_curves({"a": _history(5, 4)}).to_dict()
    assert not any("reference" in r for r in _datasets(spec))
    with pytest.raises(ValueError, match="no histories"):
        lesson_charts.loss_curves({})
    with pytest.raises(ValueError, match="lacks \\['loss'\\]"):
        lesson_charts.loss_curves({"a": pd.DataFrame({"step": [1]})})
    with pytest.raises(ValueError, match="at least 2"):
        lesson_charts.loss_curves({"a": _history(5, 4)}, vocab_size=1)


TABLE = pd.DataFrame(
    {"rows": [8, 8, 8, 4], "topic_probe": [0.9, 0.2, 0.1, 0.3], "language_probe": [0.3, 0.98, 0.99, 0.9],
     "anisotropy": [0.05, 0.4, 0.5, 0.6], "odd_metric": [1.0, 2.0, 3.0, 4.0]},
    index=pd.Index(["teacher", "student micro", "student nano", "SmolLM2"], name="space"))


def test_metric_vs_params_facets_a_log_axis_and_says_the_direction():
    params = {"student micro": 700_000, "student nano": 240_000, "SmolLM2": 134_515_008}
    spec = _renders(lesson_charts.metric_vs_params(TABLE, params, groups={"SmolLM2": "pretrained"}, reference="teacher"))
    assert spec["facet"]["field"] == "metric" and spec["resolve"]["scale"]["y"] == "independent"
    assert spec["spec"]["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    rows = _datasets(spec)
    # the default metrics: those with a known direction, each labelled with it; rows and odd_metric left out
    assert {r["metric"] for r in rows} == {"topic probe (higher is better)", "language probe (lower is better)",
                                           "anisotropy (lower is better)"}
    assert spec["facet"]["sort"] == ["topic probe (higher is better)", "language probe (lower is better)",
                                     "anisotropy (lower is better)"]
    teacher = [r for r in rows if r["space"] == "teacher"]
    assert len(teacher) == 3 and all(r["group"] == "reference" and r["params"] is None for r in teacher)
    assert {r["group"] for r in rows if r["space"] == "SmolLM2"} == {"pretrained"}
    assert {r["group"] for r in rows if r["space"].startswith("student")} == {"trained here"}
    assert next(r["value"] for r in rows if r["space"] == "student nano" and r["metric"].startswith("anisotropy")) == 0.5


def test_metric_vs_params_chosen_metrics_no_reference_and_errors():
    spec = lesson_charts.metric_vs_params(TABLE, {"student nano": 2, "student micro": 6},
                                          metrics=["odd_metric", "topic_probe"]).to_dict()
    assert {r["metric"] for r in _datasets(spec)} == {"odd metric", "topic probe (higher is better)"}
    assert len(spec["spec"]["layer"]) == 1
    with pytest.raises(ValueError, match="not rows of the table"):
        lesson_charts.metric_vs_params(TABLE, {"student pico": 10})
    with pytest.raises(ValueError, match="not rows of the table"):
        lesson_charts.metric_vs_params(TABLE, {"student nano": 10}, reference="teacher (USE v3)")
    with pytest.raises(ValueError, match="positive"):
        lesson_charts.metric_vs_params(TABLE, {"student nano": 0})
    with pytest.raises(ValueError, match="none of the metrics"):
        lesson_charts.metric_vs_params(TABLE, {"student nano": 10}, metrics=["cka_to_teacher"])


def test_every_metric_of_space_metrics_has_a_direction():
    import inspect

    from ecr_lab import experiment

    order = inspect.getsource(experiment.space_metrics)
    columns = [c for c in lesson_charts.METRIC_DIRECTION if f'"{c}"' in order]
    assert columns == list(lesson_charts.METRIC_DIRECTION)  # every direction names a column, in the table's order
    assert set(lesson_charts.METRIC_DIRECTION.values()) == {"higher", "lower"}
    assert lesson_charts.metric_label("anisotropy") == "anisotropy (lower is better)"
    assert lesson_charts.metric_label("rows") == "rows"


def test_purity_against_chance_chart():
    table = pd.DataFrame({"k": [4, 8, 16], "topic_purity": [0.5, 0.7, 0.8], "shuffled_purity": [0.1, 0.14, 0.2],
                          "shuffled_sd": 0.01, "excess_purity": [0.4, 0.56, 0.6]})
    spec = _renders(lesson_charts.purity_against_chance_chart(table, k_used=8, n_topics=12))
    rows = _datasets(spec)
    assert {r["labels"] for r in rows if "labels" in r} == {"topic purity (true topics)",
                                                            "purity of shuffled topics (chance)"}
    assert any(r.get("k") == 8 and "profile.k_anchors" in r.get("what", "") for r in rows)
    assert any(r.get("purity") == pytest.approx(1 / 12) for r in rows)
    assert len(lesson_charts.purity_against_chance_chart(table).to_dict()["layer"]) == 1
    with pytest.raises(ValueError, match="shuffled_purity"):
        lesson_charts.purity_against_chance_chart(table.drop(columns="shuffled_purity"))


def test_metric_table_colours_by_better_within_each_column():
    """Darker = better whichever way that is: a lower-is-better column is flipped, its label gets ↓."""
    from ecr_lab import viz

    table = pd.DataFrame({"topic_probe": [0.2, 0.8], "anisotropy": [0.2, 0.8], "custom": [1.0, 3.0]},
                         index=pd.Index(["a", "b"], name="space"))
    spec = viz.metric_table_chart(table).to_dict()
    rows = next(iter(spec["datasets"].values()))
    better = {(r["space"], r["metric"]): r["better"] for r in rows}
    assert better[("b", "topic_probe")] == 1.0 and better[("a", "topic_probe")] == 0.0
    assert better[("a", "anisotropy")] == 1.0 and better[("b", "anisotropy")] == 0.0  # lower is better
    assert better[("b", "custom")] == 1.0  # unknown direction: by size
    labels = {r["metric"]: r["column"] for r in rows}
    assert labels == {"topic_probe": "topic_probe ↑", "anisotropy": "anisotropy ↓", "custom": "custom"}
    flat = viz.metric_table_chart(table.assign(anisotropy=0.3)).to_dict()  # equal rows: mid-scale
    assert {r["better"] for r in next(iter(flat["datasets"].values())) if r["metric"] == "anisotropy"} == {0.5}
    flipped = viz.metric_table_chart(table, direction={"topic_probe": "lower"}).to_dict()
    rows = next(iter(flipped["datasets"].values()))
    assert {r["space"]: r["better"] for r in rows if r["metric"] == "topic_probe"} == {"a": 1.0, "b": 0.0}
