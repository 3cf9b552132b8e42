"""Altair chart builders: maps of embedding spaces, training curves, metric bars, the claims table.

Every builder returns an ``alt.Chart`` with a title, axis labels, a legend and tooltips (the
sentence itself on maps). Points are downsampled to ``max_points`` by default (Altair refuses more
than 5,000 rows unless told otherwise, and a crowded map teaches nothing). :func:`to_png` renders
any chart offline with vl-convert; :func:`enable_offline` makes charts render in JupyterLab without
a CDN.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

from .training_config import CONDITIONS as CONDITION_ORDER  # noqa: E402  (the one list of conditions)


def enable_offline() -> None:
    """Render charts in Jupyter without network (anywidget + vl-convert-python), as SVG (crisp, and
    its marks can be read from the page, which the browser test does)."""
    # one call: set_embed_options() afterwards would re-enable the renderer without offline=True
    try:
        alt.renderers.enable("jupyter", offline=True, embed_options={"renderer": "svg"})
    except Exception:  # pragma: no cover - plain Python without a notebook frontend
        alt.renderers.enable("default", embed_options={"renderer": "svg"})


def project_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(n, d) -> (n, 2) with PCA (instant) or UMAP (cosine, ``random_state`` = seed, single-threaded)."""
    x = np.asarray(x, dtype=np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, metric="cosine", random_state=seed, n_neighbors=15).fit_transform(x)
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def _sample(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def map_frame(x: np.ndarray, corpus, method: str = "pca", max_points: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Tidy frame for maps: x, y, text, lang, topic, pair_id (downsampled to ``max_points`` rows)."""
    if len(x) != len(corpus):
        raise ValueError(f"mismatched lengths: {len(x)} embeddings vs {len(corpus)} corpus rows")
    idx = _sample(len(x), max_points, seed)
    xy = project_2d(np.asarray(x)[idx], method, seed)
    f = corpus.frame.iloc[idx]
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "text": f["text"].to_numpy(), "lang": f["lang"].to_numpy(),
                         "topic": f["topic"].fillna("(none)").to_numpy(), "pair_id": f["pair_id"].to_numpy()})


def embedding_map(x: np.ndarray | pd.DataFrame, corpus=None, color: str = "topic", title: str = "Embedding map",
                  method: str = "pca", max_points: int = 1500, seed: int = 0, width: int = 300, height: int = 300) -> alt.Chart:
    """Scatter of a 2-D projection of ``x`` (n, d) coloured by ``"topic"`` or ``"lang"``; tooltips show the sentence."""
    if color not in ("topic", "lang"):
        raise ValueError("color must be 'topic' or 'lang'")
    df = x if isinstance(x, pd.DataFrame) else map_frame(x, corpus, method, max_points, seed)
    legend = "Topic" if color == "topic" else "Language"
    return alt.Chart(df, title=title).mark_circle(size=28, opacity=0.75).encode(
        x=alt.X("x:Q", title=f"{method.upper()} 1", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("y:Q", title=f"{method.upper()} 2", axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color(f"{color}:N", title=legend, scale=alt.Scale(scheme="tableau20" if color == "topic" else "dark2")),
        tooltip=["text:N", "lang:N", "topic:N"],
    ).properties(width=width, height=height)


def maps_side_by_side(spaces: Mapping[str, np.ndarray], corpus, color: str = "topic", method: str = "pca",
                      max_points: int = 1000, seed: int = 0) -> alt.HConcatChart:
    """One map per named space (e.g. teacher, students of shrinking size), same rows, same colours."""
    charts = [embedding_map(x, corpus, color=color, title=name, method=method, max_points=max_points, seed=seed,
                            width=240, height=240) for name, x in spaces.items()]
    return alt.hconcat(*charts).properties(title=f"Coloured by {'topic' if color == 'topic' else 'language'}")


def training_curves(histories: pd.DataFrame, y: str = "loss", smooth: int = 10, title: str | None = None) -> alt.Chart:
    """Lines of ``y`` (``loss``, ``grad_norm`` ...) per step, one colour per run label.

    ``histories``: concatenated run histories with a ``label`` column (and ``step``, ``y``).
    A rolling mean over ``smooth`` steps is drawn; the raw values show faintly behind it.
    """
    if "label" not in histories:
        raise ValueError("histories needs a 'label' column naming each run")
    df = histories[["label", "step", y]].copy()
    df["smoothed"] = df.groupby("label")[y].transform(lambda s: s.rolling(smooth, min_periods=1).mean())
    names = {"loss": "LM loss (text tokens)", "grad_norm": "Gradient norm (clipping off)"}
    base = alt.Chart(df, title=title or names.get(y, y)).encode(
        x=alt.X("step:Q", title="Training step"), color=alt.Color("label:N", title="Run"))
    raw = base.mark_line(opacity=0.2).encode(y=alt.Y(f"{y}:Q", title=names.get(y, y)))
    line = base.mark_line().encode(y="smoothed:Q", tooltip=["label:N", "step:Q", alt.Tooltip("smoothed:Q", format=".3f")])
    return (raw + line).properties(width=380, height=220)


#: the three views of a run and the two cue-only controls beside ECR at inference (ecr_lab.controls)
VIEWS_WITH_CONTROLS = ("cue_free", "ecr_inference", "oracle", "cue_only", "kd_plus_cue")


def metric_bars(results: pd.DataFrame, metric: str, views: tuple[str, ...] = ("cue_free", "ecr_inference", "oracle"),
                title: str | None = None) -> alt.Chart:
    """Mean ± std over seeds of ``metric`` per condition and view, one panel per student preset."""
    sel = results[(results.metric == metric) & results.view.isin(views)]
    if sel.empty:
        raise ValueError(f"no rows for metric {metric!r} in views {views}")
    agg = sel.groupby(["preset", "condition", "view"])["value"].agg(["mean", "std"]).reset_index().fillna({"std": 0.0})
    agg["lo"], agg["hi"] = agg["mean"] - agg["std"], agg["mean"] + agg["std"]
    order = [c for c in CONDITION_ORDER if c in set(agg.condition)]
    base = alt.Chart(agg).encode(x=alt.X("condition:N", title="Condition", sort=order),
                                 xOffset=alt.XOffset("view:N", sort=list(views)))
    bars = base.mark_bar().encode(
        y=alt.Y("mean:Q", title=metric.replace("_", " ")),
        color=alt.Color("view:N", title="Embedding", sort=list(views)),
        tooltip=["preset:N", "condition:N", "view:N", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("std:Q", format=".3f")])
    err = base.mark_rule().encode(y="lo:Q", y2="hi:Q")
    return alt.layer(bars, err).facet(column=alt.Column("preset:N", title="Student")).resolve_scale(
        x="independent").properties(title=title or f"{metric.replace('_', ' ')} by condition (mean ± std over seeds)")


def to_png(chart: alt.TopLevelMixin, path: str | os.PathLike | None = None, scale: float = 1.5) -> bytes:
    """Render a chart to PNG offline (vl-convert); write it to ``path`` when given. Returns the bytes."""
    import vl_convert as vlc

    png = vlc.vegalite_to_png(chart.to_json(), scale=scale)
    if path is not None:
        from ._io import atomic_write_bytes

        atomic_write_bytes(path, png)
    return png


def png_data_uri(chart: alt.TopLevelMixin) -> str:
    """A ``data:image/png;base64,...`` URI of the chart (for self-contained HTML)."""
    return "data:image/png;base64," + base64.b64encode(to_png(chart)).decode("ascii")


def sweep_chart(sweep: pd.DataFrame, title: str = "Choosing K") -> alt.Chart:
    """Lines of silhouette, topic purity and language purity against K (from ``anchors.sweep_k``)."""
    cols = [c for c in ("silhouette", "topic_purity", "lang_purity") if c in sweep]
    long = sweep.melt(id_vars="k", value_vars=cols, var_name="measure", value_name="value")
    names = {"silhouette": "cosine silhouette", "topic_purity": "topic purity (higher = meaning)",
             "lang_purity": "language purity (lower = language-mixed)"}
    long["measure"] = long["measure"].map(names)
    return alt.Chart(long, title=title).mark_line(point=True).encode(
        x=alt.X("k:Q", title="Number of anchors K"), y=alt.Y("value:Q", title="Value"),
        color=alt.Color("measure:N", title="Measure"), tooltip=["k:Q", "measure:N", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=420, height=240)


def anchor_map(x: np.ndarray, corpus, anchors, method: str = "pca", max_points: int = 1500, seed: int = 0,
               title: str = "Teacher space and its anchors") -> alt.LayerChart:
    """Teacher rows (coloured by topic) with the K anchors drawn as labelled black diamonds, in one 2-D projection."""
    idx = _sample(len(x), max_points, seed)
    both = np.vstack([np.asarray(x)[idx], anchors.vectors])
    xy = project_2d(both, method, seed)
    f = corpus.frame.iloc[idx]
    pts = pd.DataFrame({"x": xy[: len(idx), 0], "y": xy[: len(idx), 1], "text": f["text"].to_numpy(),
                        "lang": f["lang"].to_numpy(), "topic": f["topic"].fillna("(none)").to_numpy()})
    anc = pd.DataFrame({"x": xy[len(idx):, 0], "y": xy[len(idx):, 1], "anchor": [f"<ecr_{i}>" for i in range(anchors.k)],
                        "size": anchors.sizes})
    base = alt.Chart(pts).mark_circle(size=20, opacity=0.5).encode(
        x=alt.X("x:Q", title=f"{method.upper()} 1", axis=alt.Axis(labels=False, ticks=False)),
        y=alt.Y("y:Q", title=f"{method.upper()} 2", axis=alt.Axis(labels=False, ticks=False)),
        color=alt.Color("topic:N", title="Topic", scale=alt.Scale(scheme="tableau20")), tooltip=["text:N", "lang:N", "topic:N"])
    marks = alt.Chart(anc).mark_point(shape="diamond", filled=True, color="black", size=90).encode(
        x="x:Q", y="y:Q", tooltip=["anchor:N", "size:Q"])
    labels = alt.Chart(anc).mark_text(dy=-10, fontSize=10).encode(x="x:Q", y="y:Q", text="anchor:N")
    return alt.layer(base, marks, labels, title=title).properties(width=460, height=380)


def metric_table_chart(table: pd.DataFrame, title: str = "Collapse metrics (darker = better within each column)",
                       direction: Mapping[str, str] | None = None) -> alt.Chart:
    """A heat-table of metrics (rows: spaces, columns: metrics), each column scaled on its own and
    coloured by **better within the column**: darker is better, whichever way that is. ``direction``
    maps a metric to ``"higher"`` or ``"lower"`` (default :data:`ecr_lab.metrics.METRIC_DIRECTION`);
    the column labels carry ↑ (higher is better) or ↓ (lower is better); a column of unknown
    direction is coloured by size and has no arrow."""
    from .metrics import METRIC_DIRECTION

    direction = METRIC_DIRECTION if direction is None else direction
    key = table.index.name or "index"
    long = table.reset_index().melt(id_vars=key, var_name="metric", value_name="value")
    # a column whose rows are all equal is neither better nor worse anywhere: mid-scale
    scaled = long.groupby("metric")["value"].transform(
        lambda s: (s - s.min()) / (s.max() - s.min()) if s.max() > s.min() else s * 0 + 0.5)
    lower = long["metric"].map(lambda m: direction.get(m) == "lower")
    long["better"] = scaled.where(~lower, 1 - scaled)
    arrows = {"higher": " ↑", "lower": " ↓"}
    labels = {m: f"{m}{arrows.get(direction.get(m), '')}" for m in table.columns}
    long["column"] = long["metric"].map(labels)
    base = alt.Chart(long, title=title).encode(
        x=alt.X("column:N", title=None, sort=[labels[m] for m in table.columns], axis=alt.Axis(labelAngle=-30)),
        y=alt.Y(f"{key}:N", title=None, sort=list(table.index)))
    cells = base.mark_rect().encode(
        color=alt.Color("better:Q", title="better within column", scale=alt.Scale(scheme="blues", domain=[0, 1])),
        tooltip=[f"{key}:N", "metric:N", alt.Tooltip("value:Q", format=".3f")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.condition(alt.datum.better > 0.6, alt.value("white"), alt.value("black")))
    return (cells + text).properties(width=60 * len(table.columns), height=30 * len(table))


def metric_over_steps(evals: pd.DataFrame, metric: str, marker_step: int | None = None, label: str | None = None) -> alt.Chart:
    """A metric logged during training (``run.evals``) against the step, with an optional marker at one step."""
    if metric not in evals:
        raise ValueError(f"{metric!r} was not logged; choose one of {sorted(c for c in evals if c != 'step')}")
    df = evals[["step", metric]].rename(columns={metric: "value"})
    line = alt.Chart(df, title=f"{metric.replace('_', ' ')} during training" + (f" ({label})" if label else "")).mark_line(point=True).encode(
        x=alt.X("step:Q", title="Training step"), y=alt.Y("value:Q", title=metric.replace("_", " ")),
        tooltip=["step:Q", alt.Tooltip("value:Q", format=".3f")])
    if marker_step is None:
        return line.properties(width=380, height=200)
    rule = alt.Chart(pd.DataFrame({"step": [marker_step]})).mark_rule(color="crimson", strokeWidth=2).encode(x="step:Q")
    return (line + rule).properties(width=380, height=200)


def cue_scores_chart(scores: pd.DataFrame, title: str = "Anchor scores for your sentence") -> alt.Chart:
    """Bars of anchor scores for one sentence from teacher and student (columns: anchor, source, score)."""
    return alt.Chart(scores, title=title).mark_bar().encode(
        x=alt.X("anchor:N", title="Anchor", sort=None), y=alt.Y("score:Q", title="Softmax score"),
        color=alt.Color("source:N", title="Chosen by"), xOffset="source:N",
        tooltip=["anchor:N", "source:N", alt.Tooltip("score:Q", format=".3f"), "top_topic:N"],
    ).properties(width=480, height=200)
