"""A self-contained HTML report of a pipeline run: claims table, metric bars, curves and maps.

Charts are embedded as PNG (rendered offline by vl-convert), so the file opens anywhere, offline,
with no JavaScript; the numbers behind them are in ``results.csv`` / ``results.json`` beside it.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

from . import viz
from ._io import atomic_write_bytes

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:13px;margin:1em 0} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} .supported{background:#e3f4e1} .notsupported{background:#fbe3e3} .mixed{background:#fff4d6}
img{max-width:100%;margin:.5em 0} .note{color:#555;font-size:14px}
"""


def _claims_html(claims: pd.DataFrame) -> str:
    cols = ["claim", "statement", "compared", "metric", "direction", "baseline", "ecr", "improvement", "seeds",
            "metric_verdict", "verdict"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, r in claims.iterrows():
        cls = str(r["verdict"]).replace(" ", "")
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(chart, alt_text: str) -> str:
    try:
        return f'<img alt="{html.escape(alt_text)}" src="{viz.png_data_uri(chart)}">'
    except Exception as e:  # a chart that cannot render must not lose the report
        return f'<p class="note">(chart "{html.escape(alt_text)}" could not be rendered: {html.escape(str(e))})</p>'


def write_report(path: str | os.PathLike, *, title: str, summary: dict, results: pd.DataFrame, claims: pd.DataFrame,
                 histories: pd.DataFrame, maps: dict[str, tuple] | None = None) -> Path:
    """Write ``report.html``.

    Args:
        summary: key facts (profile, machine, wall time ...) shown as a list.
        results: the long table of :func:`ecr_lab.evaluation.evaluate` for all runs.
        claims: :func:`ecr_lab.evaluation.claims_table`.
        histories: run histories with ``label`` and ``step`` columns (for the curves).
        maps: optional {name: (embeddings, corpus)} drawn side by side by topic and by language.
    """
    from .evaluation import summary_table

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>"]
    parts += [f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in summary.items()]
    parts.append("</ul><h2>Claims of the paper, measured here</h2>"
                 "<p class='note'>Verdicts are computed from the numbers (ecr_lab.evaluation.claims_table): "
                 "supported = mean improvement over seeds larger than its seed-to-seed std; not supported = no "
                 "improvement; mixed = in between or metrics disagree. ECR is measured at inference "
                 "(cues from the projection step), the baseline cue-free. The ECR condition is named in "
                 "the 'compared' column.</p>")
    parts.append(_claims_html(claims))
    parts.append("<h2>Every run, mean over seeds</h2>")
    parts.append(summary_table(results).round(3).to_html(index=False, border=0))
    parts.append("<h2>Semantic and cross-lingual metrics</h2>")
    for metric in ("topic_probe", "cross_lingual_transfer", "retrieval_at_1", "anchor_agreement"):
        if (results.metric == metric).any():
            views = ("projection",) if metric == "anchor_agreement" else ("cue_free", "ecr_inference", "oracle")
            parts.append(_img(viz.metric_bars(results, metric, views=views), metric))
    if len(histories):
        parts.append("<h2>Training (gradient clipping off)</h2>")
        parts.append(_img(viz.training_curves(histories, "loss"), "loss curves"))
        parts.append(_img(viz.training_curves(histories, "grad_norm"), "grad-norm curves"))
    if maps:
        parts.append("<h2>Maps of the test sentences</h2>")
        corpus = next(iter(maps.values()))[1]
        spaces = {name: x for name, (x, _) in maps.items()}
        for color in ("topic", "lang"):
            parts.append(_img(viz.maps_side_by_side(spaces, corpus, color=color), f"maps by {color}"))
    parts.append("</body></html>")
    return atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))


# -- markdown reports of the studies (docs/) ---------------------------------------------------
def study_markdown(out: dict, title: str, machine: str) -> str:
    """``study.md``: the variants, the projection steps, the K/m sweep and a claims table per ECR variant."""
    from .evaluation import claims_table
    from .study import projection_table, variant_table
    from .tables import markdown_table

    res = out["results"]
    parts = [f"# {title}\n", f"Machine: {machine}\n", "## Variants\n", markdown_table(variant_table(res)),
             "\n## Projection steps on the trained ECR students\n", markdown_table(projection_table(out["projections"]))]
    if len(out["km"]):
        parts += ["\n## K and m (seed 0)\n", markdown_table(variant_table(out["km"]))]
    for variant in ("ecr", "ecr_soft", "ecr_schedule", "ecr+kd"):
        if (res.variant == variant).any():
            sub = res[res.variant.isin(["baseline", variant])].assign(condition=lambda d: d["variant"])
            table = claims_table(sub, ecr_condition=variant)
            parts += [f"\n## Claims with `{variant}`\n",
                      markdown_table(table[["claim", "metric", "baseline", "ecr", "improvement", "metric_verdict", "verdict"]])]
    return "\n".join(parts) + "\n"


def pretrained_markdown(res: pd.DataFrame, title: str, machine: str, sizes: str) -> str:
    """``pretrained.md``: views, projection step / latency / step time, and claims per training mode."""
    from .study import pretrained_claims, variant_table
    from .tables import markdown_table

    agree = variant_table(res, views=("projection", "projection_tokens", "inference", "training"),
                          metrics_shown=("anchor_agreement", "latency_ratio", "step_time_s"))
    claims = pretrained_claims(res)
    parts = [f"# {title}\n", f"Machine: {machine}\n", f"Sizes: {sizes}\n", "## Views\n",
             markdown_table(variant_table(res, views=("cue_free", "ecr_inference", "oracle"))),
             "\n## Projection step, latency and step time\n", markdown_table(agree)]
    if len(claims):
        parts += ["\n## Claims (ECR+KD vs the baseline trained the same way)\n",
                  markdown_table(claims[["mode", "claim", "metric", "baseline", "ecr", "improvement", "metric_verdict",
                                         "verdict"]])]
    return "\n".join(parts) + "\n"
