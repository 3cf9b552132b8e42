"""Altair charts of the lesson notebooks (01 and 02) that ``ecr_lab.viz`` does not draw: the
students' loss curves against a uniform guess, each collapse metric against parameter count, and
topic purity against its chance level over K.

Like ``viz``, every builder returns a chart with a title, axis titles, a legend and tooltips.
:data:`METRIC_DIRECTION` says, for each column of ``experiment.space_metrics``, which direction is
better; the charts print it beside each metric's name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import altair as alt
import pandas as pd

from . import viz
from .metrics import METRIC_DIRECTION


def metric_label(metric: str) -> str:
    """``"topic_probe"`` -> ``"topic probe (higher is better)"``; a metric of unknown direction keeps its name."""
    name = metric.replace("_", " ")
    direction = METRIC_DIRECTION.get(metric)
    return f"{name} ({direction} is better)" if direction else name


def loss_curves(histories: Mapping[str, pd.DataFrame], vocab_size: int | None = None, smooth: int = 10,
                title: str = "Training loss of the students") -> alt.LayerChart:
    """The LM loss per step of several runs (``{label: run.history}``), smoothed as
    ``viz.training_curves`` draws it, with a dashed line at ln(``vocab_size``): the loss of a model
    that guesses every token uniformly, where training starts."""
    if not histories:
        raise ValueError("no histories given: pass {label: run.history}")
    frames = []
    for label, history in histories.items():
        missing = {"step", "loss"} - set(history.columns)
        if missing:
            raise ValueError(f"the history of {label!r} lacks {sorted(missing)}; pass run.history")
        frames.append(history[["step", "loss"]].assign(label=label))
    chart = viz.training_curves(pd.concat(frames, ignore_index=True), "loss", smooth=smooth, title=title)
    if vocab_size is None:
        return chart
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be at least 2, got {vocab_size}")
    guess = pd.DataFrame({"loss": [math.log(vocab_size)],
                          "reference": [f"uniform guess over {vocab_size:,} tokens: ln V = {math.log(vocab_size):.2f}"]})
    rule = alt.Chart(guess).mark_rule(color="gray", strokeDash=[4, 4]).encode(y="loss:Q", tooltip=["reference:N"])
    return chart + rule


def metric_vs_params(table: pd.DataFrame, params: Mapping[str, int], groups: Mapping[str, str] | None = None,
                     reference: str | None = None, metrics: Iterable[str] | None = None, columns: int = 4,
                     title: str = "Each metric against model size") -> alt.FacetChart:
    """One small chart per metric: its value for each space of ``params`` against that space's
    parameter count (log scale), a line through the spaces of one group, and the ``reference``
    row (the teacher, another kind of model) as a dashed horizontal line. Each title says which
    direction is better.

    Args:
        table: ``experiment.space_metrics`` (index: space names; columns: metrics; ``rows`` is skipped).
        params: {space: parameter count} of the spaces to place on the x axis.
        groups: {space: group label} (a line joins one group's points); default "trained here".
        reference: a row of ``table`` drawn as a horizontal line instead of a point.
        metrics: the columns to draw (default: every column of :data:`METRIC_DIRECTION` in the table).
        columns: charts per row.
    """
    unknown = [s for s in [*params, *([reference] if reference else [])] if s not in table.index]
    if unknown:
        raise ValueError(f"{unknown} are not rows of the table (rows: {list(table.index)})")
    if any(not p or p <= 0 for p in params.values()):
        raise ValueError("parameter counts must be positive (the x axis is logarithmic)")
    metrics = [m for m in (metrics or METRIC_DIRECTION) if m in table.columns]
    if not metrics:
        raise ValueError(f"none of the metrics is a column of the table ({list(table.columns)})")
    groups = dict(groups or {})
    rows = [{"space": s, "group": groups.get(s, "trained here"), "params": float(p), "metric": metric_label(m),
             "value": float(table.loc[s, m])} for s, p in params.items() for m in metrics]
    if reference:
        rows += [{"space": reference, "group": "reference", "params": None, "metric": metric_label(m),
                  "value": float(table.loc[reference, m])} for m in metrics]
    long = pd.DataFrame(rows)
    points = alt.Chart().mark_line(point=True).encode(
        x=alt.X("params:Q", title="Parameters (log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("group:N", title="Model"),
        tooltip=["space:N", "metric:N", alt.Tooltip("params:Q", format=",.0f"), alt.Tooltip("value:Q", format=".3f")],
    ).transform_filter(alt.datum.group != "reference")
    layers = [points]
    if reference:
        layers.append(alt.Chart().mark_rule(color="gray", strokeDash=[4, 4]).encode(
            y="value:Q", tooltip=["space:N", "metric:N", alt.Tooltip("value:Q", format=".3f")],
        ).transform_filter(alt.datum.group == "reference"))
    labels = [metric_label(m) for m in metrics]
    subtitle = f"dashed: {reference}" if reference else ""
    return alt.layer(*layers, data=long).properties(width=170, height=120).facet(
        facet=alt.Facet("metric:N", title=None, sort=labels), columns=columns,
    ).resolve_scale(y="independent").properties(title=alt.Title(title, subtitle=subtitle) if subtitle else title)


def purity_against_chance_chart(table: pd.DataFrame, k_used: int | None = None, n_topics: int | None = None,
                                title: str = "Topic purity against its chance level") -> alt.LayerChart:
    """Topic purity of the anchors and purity of shuffled topic labels on the same clusters, against
    K (``table`` from ``lesson_data.purity_against_chance``); the gap between them is what the
    anchors know about topics. Optional rules: 1 / ``n_topics`` (the purity of one big cluster of
    shuffled labels) and ``k_used`` (the K the later notebooks use)."""
    missing = {"k", "topic_purity", "shuffled_purity"} - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks {sorted(missing)}; pass lesson_data.purity_against_chance(...)")
    names = {"topic_purity": "topic purity (true topics)", "shuffled_purity": "purity of shuffled topics (chance)"}
    long = table.melt(id_vars="k", value_vars=list(names), var_name="labels", value_name="purity")
    long["labels"] = long["labels"].map(names)
    chart = alt.Chart(long, title=title).mark_line(point=True).encode(
        x=alt.X("k:Q", title="Number of anchors K"),
        y=alt.Y("purity:Q", title="Purity", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("labels:N", title="Topic labels", sort=list(names.values())),
        tooltip=["k:Q", "labels:N", alt.Tooltip("purity:Q", format=".3f")],
    )
    layers = [chart]
    if n_topics:
        layers.append(alt.Chart(pd.DataFrame({"purity": [1 / n_topics], "what": [f"1 / {n_topics} topics"]}))
                      .mark_rule(color="gray", strokeDash=[2, 2]).encode(y="purity:Q", tooltip=["what:N"]))
    if k_used is not None:
        layers.append(alt.Chart(pd.DataFrame({"k": [k_used], "what": [f"K = {k_used} (profile.k_anchors, used by notebooks 03 and 04)"]}))
                      .mark_rule(color="crimson").encode(x="k:Q", tooltip=["what:N"]))
    return alt.layer(*layers).properties(width=420, height=240)
