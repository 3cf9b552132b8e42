"""``ecr-lab warm`` (what ``make warm`` runs): fill the workspace cache the notebooks share, once.

A room of laptops that all train the same students wastes its first half hour. Warming runs every
notebook once, headless, in a fresh kernel (nbclient, as ``pytest --nbmake`` and ``make book`` run
them), so the teacher embeddings, the anchors and the trained runs of the chosen profile land in the
cache folder (``$ECR_LAB_CACHE``, default ``~/.cache/ecr_lab``); then it runs each notebook again and
prints both times, so the speed-up is measured, not promised.

The cache is one folder: copy it to other machines and set ``ECR_LAB_CACHE`` there. It carries the
ecr_lab version that built it (:func:`ecr_lab.config.stamp_cache`), and a cache built by another
version is refused with a message naming the fix, never silently reused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from ._io import atomic_write_json
from .config import cache_dir, export_cache_root, get_profile

#: executes one notebook in a fresh kernel; prints {"wall_s", "peak_gib"} (peak of the kernel process)
_RUNNER = r"""
import json, resource, sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
t0 = time.perf_counter()
NotebookClient(nb, timeout=int(sys.argv[3]), kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
wall = time.perf_counter() - t0
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel (largest child)
print(json.dumps({"wall_s": wall, "peak_gib": peak_kib / 2**20}))
"""


def execute_timed(notebook: str | os.PathLike, env: dict | None = None, timeout: int = 3600) -> dict:
    """Execute ``notebook`` in a fresh kernel (a child process, in the notebook's folder; outputs are
    discarded, the file is not changed); returns {"wall_s", "peak_gib"}. Raises RuntimeError with
    the notebook's error. A relative ``ECR_LAB_CACHE`` in ``env`` is made absolute first."""
    notebook = Path(notebook)
    out = subprocess.run([sys.executable, "-c", _RUNNER, str(notebook), str(notebook.parent), str(timeout)],
                         env=export_cache_root(env), capture_output=True, text=True)
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{notebook.name} failed:\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def find_notebooks(notebooks: str | os.PathLike = "notebooks") -> list[Path]:
    """The numbered notebooks in ``notebooks``, in order. Raises FileNotFoundError naming the fix."""
    folder = Path(notebooks).expanduser()
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}; run from the ecr_lab "
                                "repository root (which holds notebooks/) or pass --notebooks DIR")
    return found


def cache_contents(root: str | os.PathLike) -> dict:
    """What a cache folder holds: {"size_mb", "embedding_banks", "workspaces": {profile: {"runs",
    "anchor_sets"}}}; runs are folders with ``final/run.json``."""
    root = Path(root)
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    spaces = {}
    for ws in sorted((root / "workspace").glob("*")) if (root / "workspace").is_dir() else []:
        spaces[ws.name] = {"runs": len(list(ws.rglob("final/run.json"))),
                           "anchor_sets": len(list(ws.rglob("anchors.json")))}
    return {"size_mb": round(sum(p.stat().st_size for p in files) / 2**20, 1),
            "embedding_banks": sum(p.suffix == ".npz" for p in files), "workspaces": spaces}


def warm(profile: str | None = "fast", notebooks: str | os.PathLike = "notebooks", timeout: int = 3600,
         progress: bool = True, once: bool = False) -> pd.DataFrame:
    """Run every notebook twice under ``profile`` against the cache folder: the first run builds what
    is missing (cold when the cache was empty), the second only loads. Returns one row per notebook:
    notebook, first_s, warm_s, speedup, peak_gib (``attrs["cache_was_empty"]``: whether the profile
    had no trained run before; ``attrs["before"]``: :func:`cache_contents` before the first run);
    also written to ``<cache>/warm_times.json``. ``once``: build only, no second (timing) run
    (warm_s and speedup are NaN), e.g. when an image is built."""
    from tqdm.auto import tqdm

    prof = get_profile(profile)
    paths = find_notebooks(notebooks)
    root = cache_dir()  # refuses a cache built by another version, stamps a new one
    before = cache_contents(root)
    env = dict(os.environ, ECR_LAB_PROFILE=prof.name, ECR_LAB_CACHE=str(root))
    rows = []
    for nb in tqdm(paths, desc=f"warming ({prof.name})", unit="notebook", disable=not progress):
        first = execute_timed(nb, env, timeout)
        again = None if once else execute_timed(nb, env, timeout)
        rows.append({"notebook": nb.stem, "first_s": round(first["wall_s"], 1),
                     "warm_s": round(again["wall_s"], 1) if again else float("nan"),
                     "speedup": round(first["wall_s"] / again["wall_s"], 1) if again else float("nan"),
                     "peak_gib": round(max(first["peak_gib"], again["peak_gib"] if again else 0.0), 2)})
    table = pd.DataFrame(rows)
    table.attrs["cache_was_empty"] = not before["workspaces"].get(prof.name, {}).get("runs")
    table.attrs["before"] = before
    record = {"profile": prof.name, "cache_was_empty": table.attrs["cache_was_empty"],
              "when": time.strftime("%Y-%m-%d %H:%M"), "notebooks": rows, "cache": cache_contents(root)}
    atomic_write_json(root / "warm_times.json", record)
    return table


def summary(table: pd.DataFrame, root: str | os.PathLike) -> str:
    """What :func:`warm` built and the times, as text for the terminal."""
    c = cache_contents(root)
    b = table.attrs.get("before") or {"size_mb": 0.0, "embedding_banks": 0, "workspaces": {}}
    lines = [f"cache {root}: {c['size_mb']} MB (+{c['size_mb'] - b['size_mb']:.1f} MB this time), "
             f"{c['embedding_banks']} teacher-embedding banks (+{c['embedding_banks'] - b['embedding_banks']})"]
    for name, w in c["workspaces"].items():
        was = b["workspaces"].get(name, {"runs": 0, "anchor_sets": 0})
        lines.append(f"  workspace/{name}: {w['runs']} trained runs (+{w['runs'] - was['runs']} built now), "
                     f"{w['anchor_sets']} anchor sets (+{w['anchor_sets'] - was['anchor_sets']})")
    first = "cold (no trained run before)" if table.attrs.get("cache_was_empty") else "first run (runs cached before)"
    timed = table.warm_s.notna().all()
    lines += ["", f"{'notebook':<20} {first:>30}" + (f" {'warm':>8} {'speed-up':>9}" if timed else "")]
    for r in table.itertuples():
        lines.append(f"{r.notebook:<20} {r.first_s:>28.0f} s" + (f" {r.warm_s:>6.0f} s {r.speedup:>8.1f}x" if timed else ""))
    total = f"{'all':<20} {table.first_s.sum():>28.0f} s"
    if timed:
        total += f" {table.warm_s.sum():>6.0f} s {table.first_s.sum() / table.warm_s.sum():>8.1f}x"
    lines += [total, "", f"copy {root} to another machine and set ECR_LAB_CACHE there to reuse it "
              "(the same ecr_lab version only)"]
    return "\n".join(lines)
