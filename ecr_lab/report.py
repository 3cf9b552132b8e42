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
th{background:#f5f5f5} .supported{background:#e3f4e1} .contradicted,.indicativeagainst{background:#fbe3e3}
.inconclusive,.mixed{background:#fff4d6} .untested,.indicative,.na{background:#eef2f7}
img{max-width:100%;margin:.5em 0} .note{color:#555;font-size:14px}
"""


def _cell(v) -> str:
    return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))


def _claims_html(claims: pd.DataFrame) -> str:
    from .evaluation import CLAIM_COLUMNS

    cols = list(CLAIM_COLUMNS)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, r in claims.iterrows():
        cls = str(r["verdict"]).replace(" ", "").replace("/", "")
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


#: the claims columns the markdown summaries show
SHORT_CLAIM_COLUMNS = ["claim", "comparison", "metric", "ecr", "other", "difference", "ci_low", "ci_high", "seeds",
                       "metric_verdict", "verdict"]


ZERO_WIDTH_NOTE = ("\n*A zero-width interval (ci_low = ci_high) means every seed gave exactly the same difference, "
                   "which probes and counts over a few hundred sentences can do: it says the direction held in "
                   "every seed, not that the difference is known precisely.*\n")


def zero_width_rows(claims: pd.DataFrame) -> pd.Series:
    """True for the rows whose interval over 2+ seeds has zero width (every seed the same difference)."""
    if not {"ci_low", "ci_high", "seeds"} <= set(claims.columns):
        return pd.Series(False, index=claims.index)
    low, high = pd.to_numeric(claims.ci_low, errors="coerce"), pd.to_numeric(claims.ci_high, errors="coerce")
    return (pd.to_numeric(claims.seeds, errors="coerce") >= 2) & low.notna() & (low == high)


def claims_markdown(claims: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A claims table as markdown: numbers to 4 places, "–" where there is none (one seed has no
    interval), and :data:`ZERO_WIDTH_NOTE` under it when a row's interval has zero width."""
    from .tables import markdown_table

    table = claims[columns or SHORT_CLAIM_COLUMNS].round(4).astype(object)
    text = markdown_table(table.where(table.notna(), "–"))
    return text + ZERO_WIDTH_NOTE if zero_width_rows(claims).any() else text


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
                 "<p class='note'>Verdicts are computed from the numbers (ecr_lab.evaluation.claims_table). "
                 "Each row compares the ECR condition with one control, named in the 'comparison' column "
                 "(the baseline, and KD where it ran), paired by seed: 'difference' is the mean paired "
                 "difference in the claimed direction and [ci_low, ci_high] its 95 % Student-t interval. "
                 "supported = the interval excludes 0 in the claimed direction; contradicted = it excludes 0 "
                 "the other way; inconclusive = it contains 0; indicative = one seed only; untested = "
                 "neither side shows the effect at all. A claim is supported only when every metric is, "
                 "against every control: ECR is credited only where it beats KD too. ECR is measured at "
                 "inference (cues from the projection step), the controls cue-free.</p>")
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
    """``study.md``: choices made on the validation split (variants, projection steps, K and m, each
    table on validation), then the chosen configuration on the test split with the cue-only controls
    and its claims against the baseline and KD, then claim C3 in the stress regime."""
    from .evaluation import claims_table
    from .study import projection_table, stress_claims, stress_table, variant_table
    from .tables import markdown_table
    from .viz import VIEWS_WITH_CONTROLS

    res, choices = out["results"], out["choices"]
    val, test = res[res.split == "val"], res[res.split == "test"]
    chosen = choices["variant"]["choice"]
    lines = [f"- **variant**: `{chosen}` (validation {choices['metric']} {choices['variant']['val']:.3f}; "
             f"its test number {choices['variant']['test']:.3f})"]
    for key in ("projection", "km"):
        if key in choices:
            c = choices[key]
            lines.append(f"- **{'projection step' if key == 'projection' else 'K and m'}**: {c['choice']} "
                         f"(validation {c['val']:.3f}; test {c['test']:.3f})")
    parts = [f"# {title}\n", f"Machine: {machine}\n",
             "Every choice below is made on the **validation** split; the **test** split only reports the "
             "chosen configuration (and the controls it is compared with).\n",
             "## Chosen on validation\n", "\n".join(lines) + "\n",
             "\n## Variants, validation split (for choosing)\n", markdown_table(variant_table(val)),
             "\n## Projection steps, validation split\n",
             markdown_table(projection_table(out["projections"][out["projections"].split == "val"]))]
    if len(out["km"]):
        parts += ["\n## K and m (seed 0), validation split\n", markdown_table(variant_table(out["km"][out["km"].split == "val"]))]
    keep = test[test.variant.isin(["baseline", "kd", "random_cues", chosen])]
    parts += [f"\n## `{chosen}` on the test split, beside its controls\n",
              "`cue_only`: the projected cue alone (no student); `kd_plus_cue`: the KD student's cue-free "
              "embedding with the same cue; `projector_alone`: the projection step as a topic classifier.\n",
              markdown_table(variant_table(keep, views=VIEWS_WITH_CONTROLS)),
              markdown_table(variant_table(keep, views=("projector_alone",),
                                           metrics_shown=("topic_accuracy", "teacher_topic_accuracy")))]
    sub = keep[keep.variant.isin(["baseline", "kd", chosen])].assign(condition=lambda d: d["variant"])
    parts += [f"\n## Claims with `{chosen}` (test split, against the baseline and KD)\n",
              claims_markdown(claims_table(sub, ecr_condition=chosen))]
    stress = out.get("stress")
    if stress is not None and len(stress):
        parts += ["\n## Claim C3 in a stress regime (deeper, narrower student; learning rates upward; no clipping)\n",
                  markdown_table(stress_table(stress)),
                  claims_markdown(stress_claims(stress))]
    return "\n".join(parts) + "\n"


def pretrained_markdown(res: pd.DataFrame, title: str, machine: str, sizes: str) -> str:
    """``pretrained.md``: the choices made on validation, whether the model reads its cues (the
    oracle first), the views and controls of the chosen configurations on test, the projection
    step's two features with their latency, and the claims per training mode."""
    from .pretrained import (
        choose_pretrained,
        chosen_test,
        cue_reading,
        cue_reading_trend,
        feature_table,
        pretrained_claims,
    )
    from .study import variant_table
    from .tables import markdown_table

    choices = res.attrs.get("choices") or choose_pretrained(res)
    chosen = pd.DataFrame([{"variant": v, "learning rate": c["learning_rate"], "steps": c["steps"],
                            "cue feature": c["cue_feature"] or "–", "validation": round(c["val"], 4),
                            "test": round(c["test"], 4), "candidates (validation)": "; ".join(
                                f"{k}: {x}" for k, x in c["candidates"].items())} for v, c in choices.items()])
    test = chosen_test(res)
    reading, trend = cue_reading(res), cue_reading_trend(res)
    parts = [f"# {title}\n", f"Machine: {machine}\n", f"Sizes: {sizes}\n",
             "## Choices, made on the validation split (seed 0; topic probe in the deployed view)\n",
             "ECR+KD also chooses its cue feature, so it picks the best of twice as many candidates as the "
             "baseline and KD; seed 0's test numbers at the choice count in the claims.\n",
             markdown_table(chosen),
             "\n## Does the model read its cues? (test, chosen configurations, paired by seed)\n",
             claims_markdown(reading, ["mode", "metric", "cues", "against", "with cues", "without",
                                       "difference", "ci_low", "ci_high", "seeds", "verdict"])
             if len(reading) else "(no ECR+KD run)\n",
             "\n## The oracle's lift along training (seed 0, validation)\n",
             markdown_table(trend.round(4)) if len(trend) else "(no ECR+KD run)\n",
             "\n## Views and controls (test, chosen configurations; mean ± std over seeds)\n",
             markdown_table(variant_table(test, views=("cue_free", "ecr_inference", "oracle", "cue_only",
                                                       "kd_plus_cue"))),
             "\n## The projection step: hidden state vs mean token embedding (test, chosen rate and steps)\n",
             markdown_table(feature_table(res))]
    claims = pretrained_claims(res)
    if len(claims):
        parts += ["\n## Claims (ECR+KD vs the baseline and KD trained the same way; test)\n",
                  claims_markdown(claims, ["mode", *SHORT_CLAIM_COLUMNS])]
    return "\n".join(parts) + "\n"
