"""The corpus datasheet's teacher ceiling, computed, rendered and checked in one place.

``data/README.md`` holds the ceiling table between the lines :data:`START` and :data:`END`; that
block is written by ``ecr-lab ceiling --write data/README.md`` (:func:`update_ceiling`), never by
hand, and ``tests/test_datasheet.py`` recomputes it and fails when a printed number is stale
(:func:`parse_ceiling`, :func:`ceiling_mismatches`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._io import atomic_write_bytes

START = "<!-- ceiling:start -->"
END = "<!-- ceiling:end -->"

#: key of :func:`teacher_ceiling` -> (what it means, decimals printed); also the table's row order.
ROWS: dict[str, tuple[str, int]] = {
    "retrieval_at_1": ("cross-lingual retrieval@1: the nearest row in another language is a translation", 3),
    "topic_probe": ("logistic topic probe on held-out meaning units (split by pair_id with `seed`; "
                    "`ecr_lab.metrics.topic_probe`)", 3),
    "topic_majority_rate": ("share of the largest topic: what a probe gets by guessing", 3),
    "cross_lingual_transfer_from_en": ("topic head trained on the en rows, tested on the 7 other languages", 3),
    "language_probe": ("language probe on held-out meaning units, same seed: how much language the "
                       "teacher still encodes", 3),
    "rows": ("corpus rows the teacher encoded", 0),
    "seed": ("seed of the probe split (`ecr-lab ceiling --seed`)", 0),
}

#: Allowed distance beyond print rounding. The language probe moves by up to 0.002 when the
#: teacher's float32 rows change in the last bits (another CPU's BLAS kernels, other batch
#: boundaries): a few of its held-out rows are near-ties. Every other number is stable.
SLACK: dict[str, float] = {"language_probe": 0.003}


def teacher_ceiling(corpus, teacher, seed: int = 0) -> dict[str, float | int]:
    """What ``teacher`` achieves on ``corpus``: the best a student can inherit from its anchors.

    ``corpus``: a :class:`~ecr_lab.data.Corpus`; ``teacher``: any teacher encoder. Returns the
    metrics of :data:`ROWS` (probes split with ``seed``), plus ``rows`` and ``seed``.
    """
    from . import metrics

    emb = teacher.encode(corpus.texts)
    topics, langs, pids = corpus.topic_labels, corpus.langs, corpus.pair_ids
    return {
        "rows": len(corpus),
        "retrieval_at_1": metrics.retrieval_at_1(emb, pids, langs),
        "topic_probe": metrics.topic_probe(emb, topics, pids, seed=seed),
        "topic_majority_rate": metrics.majority_rate(topics),
        "language_probe": metrics.language_probe(emb, langs, pids, seed=seed),
        "cross_lingual_transfer_from_en": metrics.cross_lingual_transfer(emb, topics, langs, "en"),
        "seed": seed,
    }


def _fmt(value: float | int, decimals: int) -> str:
    return f"{value:.{decimals}f}" if decimals else f"{int(value):,}"


def ceiling_markdown(ceiling: dict) -> str:
    """The datasheet's ceiling table (measure | value | meaning), one row per known key of ``ceiling``."""
    lines = ["| measure | value | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {_fmt(ceiling[key], dec)} | {meaning} |"
              for key, (meaning, dec) in ROWS.items() if key in ceiling]
    return "\n".join(lines) + "\n"


def _block(text: str, where: str) -> tuple[int, int]:
    """Start and end offsets of the text between the markers; ValueError naming them if absent."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i or text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"{where}: no ceiling block; it needs exactly one line {START} followed by "
                         f"one line {END}, with the table between them")
    return i + len(START), j


def parse_ceiling(text: str, where: str = "datasheet") -> dict[str, float]:
    """The numbers of the ceiling block in a datasheet's ``text``: {key: value} as printed."""
    i, j = _block(text, where)
    rows = re.findall(r"^\|\s*`(\w+)`\s*\|\s*\**([\d.,]+)\**\s*\|", text[i:j], flags=re.M)
    if not rows:
        raise ValueError(f"{where}: the ceiling block between {START} and {END} has no `key` | value rows")
    return {key: float(value.replace(",", "")) for key, value in rows}


def ceiling_mismatches(quoted: dict[str, float], fresh: dict) -> list[str]:
    """Where printed numbers ``quoted`` (:func:`parse_ceiling`) disagree with ``fresh`` ones
    (:func:`teacher_ceiling`) beyond print rounding (plus :data:`SLACK`); [] when none do."""
    out = [f"{key}: missing from the block (fresh {fresh[key]})" for key in ROWS
           if key in fresh and key not in quoted]
    for key, value in quoted.items():
        if key not in fresh:
            out.append(f"{key}: in the block but not computed by teacher_ceiling")
            continue
        dec = ROWS.get(key, ("", 3))[1]
        if abs(value - fresh[key]) > 0.5 * 10.0**-dec + SLACK.get(key, 0.0) + 1e-9:
            out.append(f"{key}: datasheet {_fmt(value, dec)}, fresh {_fmt(fresh[key], dec)} ({fresh[key]!r})")
    return out


def update_ceiling(readme_path: str | os.PathLike, ceiling: dict) -> Path:
    """Rewrite the ceiling block of the datasheet at ``readme_path`` (atomically); returns the path."""
    path = Path(readme_path)
    text = path.read_text(encoding="utf-8")
    i, j = _block(text, str(path))
    new = text[:i] + "\n" + ceiling_markdown(ceiling) + text[j:]
    return atomic_write_bytes(path, new.encode("utf-8"))
