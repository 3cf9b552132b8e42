"""The whole pipeline, headless: corpus -> teacher -> anchors -> students of two sizes x conditions
-> evaluation -> claims table -> ``results.json``, ``results.csv`` and ``report.html``.

``ecr-lab run`` (and ``make demo``) call :func:`run_pipeline`; notebooks 01-04 call the same
library functions one by one (docs/design.md, "data flow").
"""

from __future__ import annotations

import platform
import time
from pathlib import Path


def machine() -> str:
    """A one-line description of where numbers were measured."""
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def _user_corpus(corpus, columns, prof):
    """(spec, corpus, skipped labels) of ``ecr-lab run --corpus``: loads it, prints its summary and
    what its missing labels skip, and refuses one without meaning units shared across languages."""
    from .data import Corpus, CorpusError, describe_corpus, load_corpus_spec, missing_labels
    from .evaluation import CLAIMS

    if corpus is None:
        return None, None, {}
    if isinstance(corpus, Corpus):
        if columns:
            raise ValueError("columns applies to a corpus spec (a path or hf:...), not to a Corpus object")
        spec, user_corpus = None, corpus
    else:
        spec = str(corpus)
        user_corpus = load_corpus_spec(spec, columns)
    claims_of: dict[str, list[str]] = {}  # metric -> the claims that read it
    for claim, _, specs, _ in CLAIMS:
        for _, metric, _ in specs:
            claims_of.setdefault(metric, []).append(claim)
    print(describe_corpus(user_corpus, claims_of))
    skipped = missing_labels(user_corpus)
    if "pair_id" in skipped:
        raise CorpusError(
            f"{user_corpus.name}: ecr-lab run needs meaning units shared across languages: the probes are "
            "split by pair_id (a translation of a test sentence is never in training), the training probe "
            "set is made of whole units, and retrieval looks for translations. Give rows that translate "
            "each other the same pair_id and map that column with --columns pair_id=YOUR_COLUMN")
    if skipped:
        print("The rest of the pipeline runs.")
    if "topic" in skipped and prof.units_per_topic is not None:
        print(f"note: without topics the {prof.name} profile's units_per_topic={prof.units_per_topic} keeps "
              f"{prof.units_per_topic} meaning units of the whole corpus")
    return spec, user_corpus, skipped


def _check_probe_splits(setup, name: str) -> None:
    """Fail before training, not in the first run, when a split of your corpus is too small for the probes."""
    from .data import CorpusError
    from .metrics import MIN_UNITS_PER_SIDE

    need = 2 * MIN_UNITS_PER_SIDE
    short = {}
    for split_name, part in {"validation": setup.val, "test": setup.test}.items():
        if part is not None and part.topics:
            units = part.frame.groupby(part.frame["topic"].fillna("(none)"))["pair_id"].nunique()
            short.update({f"{t} ({split_name})": int(n) for t, n in units.items() if n < need})
    try:
        if short:
            raise ValueError(f"meaning units per topic: {short}")
        setup.eval_set()
    except ValueError as e:
        raise CorpusError(
            f"{name} is too small for the probes: split by pair_id, they need at least {need} meaning units "
            f"of every topic in the validation and test splits (about {need * 5} units per topic in the "
            f"corpus); {e}. Add units to those topics, or merge or drop them") from None


def run_pipeline(profile=None, out: str | Path = "ecr_runs", seeds: int | None = None,
                 progress: bool = True, corpus=None, columns=None) -> dict:
    """The whole pipeline (``profile``: a name or a :class:`~ecr_lab.config.Profile`); returns the
    output folder, the claims table, the results table and the wall time.

    ``corpus``: your own data instead of the bundled corpus: a JSONL/CSV/TSV path,
    ``hf:NAME[:CONFIG[:SPLIT]]`` or ``bundled`` (read by :func:`ecr_lab.data.load_corpus_spec`, with
    ``columns`` as ``{source: target}``), or a :class:`~ecr_lab.data.Corpus`. Its summary and the
    metrics its missing labels skip are printed first (the claims table shows n/a for them); the
    profile's size knobs (languages, units_per_topic) still apply. A corpus without pair ids shared
    across languages is refused (:class:`~ecr_lab.data.CorpusError`): the probes split by them.
    """
    import shlex

    import pandas as pd

    from ._io import atomic_write_json
    from .config import get_profile, seed_everything
    from .data import format_columns
    from .evaluation import claims_table
    from .experiment import evaluate_runs, prepare, train_matrix
    from .report import SHORT_CLAIM_COLUMNS, write_report

    t0 = time.perf_counter()
    prof = get_profile(profile)
    seeds = seeds or prof.seeds
    seed_everything(0)
    out = Path(out)
    spec = str(corpus) if corpus is not None and not hasattr(corpus, "frame") else None
    print(f"ecr-lab run: profile={prof.name}, seeds={seeds}, out={out}" + (f", corpus={spec}" if spec else ""))
    spec, user_corpus, skipped = _user_corpus(corpus, columns, prof)
    out.mkdir(parents=True, exist_ok=True)
    setup = prepare(prof, seed=0, corpus=user_corpus)
    print(setup)
    if user_corpus is not None:
        _check_probe_splits(setup, user_corpus.name)
    runs = train_matrix(setup, out_dir=out / "runs", seeds=seeds, progress=progress)
    results = evaluate_runs(runs, setup)
    claims = claims_table(results, ecr_condition=prof.claim_condition)
    wall = time.perf_counter() - t0
    results.to_csv(out / "results.csv", index=False)
    command = f"ecr-lab run --profile {prof.name} --seeds {seeds} --out {shlex.quote(str(out))}"
    if spec is not None:
        command += f" --corpus {shlex.quote(spec)}" + (f" --columns {shlex.quote(format_columns(columns))}"
                                                         if columns else "")
    summary = {"profile": prof.name, "seeds": seeds, "machine": machine(), "wall_time_s": round(wall, 1),
               "corpus": spec or (user_corpus.name if user_corpus is not None else "bundled"),
               "corpus_sha256": setup.corpus.content_hash()[:16],
               "train_rows": len(setup.train), "val_rows": len(setup.val), "test_rows": len(setup.test),
               "K": setup.anchors.k,
               "languages": " ".join(setup.corpus.languages), "topics": len(setup.corpus.topics),
               "students": " / ".join(prof.student_presets), "steps": prof.train_steps,
               "command": command}
    if skipped:
        summary["skipped_metrics"] = "; ".join(f"no {label}: {', '.join(m)}" for label, m in skipped.items())
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
            maps[f"{small} {r.condition} (cue-free)"] = (r.student.encode(probe.texts), probe)
    write_report(out / "report.html", title=f"ecr_lab report ({prof.name} profile)", summary=summary,
                 results=results, claims=claims, histories=hist, maps=maps)
    print(claims[SHORT_CLAIM_COLUMNS].round(3).to_string(index=False))
    print(f"\nwrote {out / 'results.json'}, {out / 'results.csv'}, {out / 'report.html'} in {wall:.0f} s")
    return {"out": out, "claims": claims, "results": results, "wall_time_s": wall}


def train_run(profile=None, preset: str | None = None, variant: str | None = None, seed: int = 0,
              out: str | Path = "ecr_runs/train", progress: bool = True, **overrides):
    """``ecr-lab train``: one run of the profile (default: its small student under the claim
    condition), written to ``out/runs/<preset>-<variant>-s<seed>``. Returns the :class:`~ecr_lab.runs.Run`.

    Works alone and under ``accelerate launch`` / ``torchrun`` (every process calls it): the main
    process builds the caches and drops a stale run first, the others then read the caches; the
    processes train the run together and only the main process writes it.
    """
    from accelerate import PartialState

    from .config import get_device, get_profile
    from .experiment import drop_stale_run, prepare, run_name, train_one, variant_config
    from .student import PRESETS
    from .training_config import VARIANTS

    prof = get_profile(profile)
    preset = preset or prof.student_presets[0]
    variant = variant or prof.claim_condition
    for what, value, known in (("preset", preset, PRESETS), ("variant", variant, VARIANTS)):
        if value not in known:  # before minutes of set-up, and before any process waits on another
            raise ValueError(f"unknown {what} {value!r}; choose one of {list(known)}")
    state = PartialState(cpu=get_device(overrides.get("device", "auto")) == "cpu")
    run_dir = Path(out) / "runs" / run_name(preset, variant, seed)
    with state.main_process_first():
        setup = prepare(prof, seed=0, anchors_dir=Path(out) / "anchors")
        cfg = variant_config(setup, variant, seed, progress=progress, **overrides)
        if state.is_main_process:
            print(f"ecr-lab train: {run_dir.name} on {state.num_processes} process(es), "
                  f"{cfg.batch_size * state.num_processes * cfg.gradient_accumulation_steps} rows per step; {setup}")
            drop_stale_run(run_dir, cfg, setup.train.texts, setup.anchors)
    t0 = time.perf_counter()
    run = train_one(setup, preset, variant, seed, Path(out) / "runs", progress=progress, **overrides)
    if state.is_main_process:
        tail = run.history.tail(1).to_dict(orient="records")[0] if len(run.history) else {}
        print(f"{run.name}: {run.status} after {len(run.history)} steps in {time.perf_counter() - t0:.0f} s "
              f"(last loss {tail.get('loss', float('nan')):.3f}); saved in {run_dir}")
    return run


def study_report(profile=None, out: str | Path = "ecr_study", seeds: int = 3, km_sweep: bool = True,
                 stress: bool = True) -> str:
    """``ecr-lab study``: run the study (:func:`ecr_lab.study.run_study`), write ``study.md``; returns its text."""
    from ._io import atomic_write_bytes
    from .config import get_profile
    from .report import study_markdown
    from .study import run_study

    prof = get_profile(profile)
    result = run_study(prof, out, seeds=seeds, km_sweep=km_sweep, stress=stress)
    title = f"ecr_lab study ({prof.name} profile, {seeds} seeds, {result['wall_time_s']:.0f} s)"
    text = study_markdown(result, title=title, machine=machine())
    atomic_write_bytes(Path(out, "study.md"), text.encode())
    return text


def pretrained_study_report(profile=None, out: str | Path = "ecr_study", seeds: int | None = None) -> str:
    """``ecr-lab study --pretrained``: the SmolLM2 study (:mod:`ecr_lab.pretrained`); writes
    ``pretrained.csv`` (every number with its run's seed, steps, batch size, sentences seen, mode and
    learning rate) and ``pretrained.md``; finished units' tables are reused, and the title says how
    many. Returns the markdown."""
    from ._io import atomic_write_bytes
    from .config import get_profile
    from .experiment import prepare
    from .pretrained import PretrainedStudyConfig, pretrained_study
    from .report import pretrained_markdown

    t0 = time.perf_counter()
    prof = get_profile(profile)
    out = Path(out)
    setup = prepare(prof, seed=0, anchors_dir=out / "anchors")
    cfg = PretrainedStudyConfig.for_profile(prof)
    seeds = cfg.seeds if seeds is None else seeds
    done_before = len(list((out / "pretrained").glob("*.csv")))
    res = pretrained_study(setup, out, seeds=seeds, config=cfg)
    atomic_write_bytes(out / "pretrained.csv", res.to_csv(index=False).encode())
    resumed = f"; {done_before} tables loaded from earlier calls" if done_before else ""
    title = (f"SmolLM2-135M as the ECR student ({prof.name} profile, {seeds} seeds, "
             f"{time.perf_counter() - t0:.0f} s{resumed})")
    text = pretrained_markdown(res, title=title, machine=machine(), sizes=str(cfg))
    atomic_write_bytes(out / "pretrained.md", text.encode())
    return text
