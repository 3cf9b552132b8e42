"""``ecr-lab lab`` (what ``make lab`` runs): JupyterLab on the notebooks, as root too.

JupyterLab refuses to start as root ("Running as root is not recommended. Use --allow-root to
bypass."), yet containers and cloud notebook servers run as root. :func:`lab_command` adds
``--allow-root`` exactly when the process runs as root, and passes every other argument to
JupyterLab unchanged::

    ecr-lab lab                                   # JupyterLab on ./notebooks
    ecr-lab lab --notebooks DIR --no-browser --port=8889
    make lab LAB_ARGS="--no-browser --ip=0.0.0.0"
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def running_as_root() -> bool:
    """True when the effective user is root (uid 0); always False where ``os.geteuid`` does not
    exist (Windows), which is also where JupyterLab does no root check."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def lab_command(notebooks: str = "notebooks", extra: Sequence[str] = ()) -> list[str]:
    """The argv that starts JupyterLab on the folder ``notebooks``, with ``extra`` arguments last.

    ``[sys.executable, "-m", "jupyterlab", "--ServerApp.root_dir=<absolute folder>", ...]``: the
    JupyterLab of this very environment, whatever ``PATH`` says. ``--allow-root`` is added only when
    running as root (:func:`running_as_root`). Passing it always would also be harmless (the server
    only reads it when uid is 0), but the conditional keeps a non-root user's command identical to a
    plain ``jupyter lab`` and shows where the root bypass is in effect. ``extra`` comes last, so the
    user's own settings win.

    Raises FileNotFoundError / NotADirectoryError naming the folder when ``notebooks`` is not a
    folder, and TypeError when ``extra`` is a single string instead of a list of arguments.
    """
    if isinstance(extra, str):
        raise TypeError(f"extra must be a list of arguments, not the string {extra!r}; "
                        f"use shlex.split({extra!r})")
    folder = Path(notebooks).expanduser()
    if not folder.exists():
        raise FileNotFoundError(
            f"notebooks folder {folder} does not exist; run from the ecr_lab repository root (which "
            "holds notebooks/) or pass the folder with --notebooks DIR"
        )
    if not folder.is_dir():
        raise NotADirectoryError(
            f"{folder} is not a folder; pass the folder that holds the notebooks with --notebooks DIR"
        )
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder.resolve()}"]
    if running_as_root():
        argv.append("--allow-root")
    return argv + list(extra)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ecr-lab lab",
        description="Open JupyterLab on the ecr_lab notebooks (adds --allow-root when run as root).",
        epilog="Every other argument goes to JupyterLab unchanged, e.g. --no-browser --port=8889 "
        "--ip=0.0.0.0 (python -m jupyterlab --help lists them).",
        allow_abbrev=False,  # never mistake a JupyterLab option for an abbreviation of ours
    )
    p.add_argument("--notebooks", default="notebooks", metavar="DIR",
                   help="folder to serve (default: ./notebooks)")
    return p


def _run_child(cmd: Sequence[str]) -> int:
    """Run ``cmd`` as a child and return its exit code (where exec is not available: Windows).

    Ctrl-C reaches the child from the console as well; this process ignores it and keeps waiting,
    so JupyterLab shuts down its kernels cleanly before ``ecr-lab`` returns.
    """
    proc = subprocess.Popen(list(cmd))
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    """``ecr-lab lab [--notebooks DIR] [JupyterLab arguments...]``: start JupyterLab.

    On POSIX this process becomes JupyterLab (``os.execv``), so Ctrl-C and SIGTERM reach the server
    directly; on Windows it runs as a child and its exit code is returned. A missing folder or a
    missing JupyterLab is an error message and exit code 2.
    """
    parser = _parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    try:
        cmd = lab_command(args.notebooks, extra)
    except (FileNotFoundError, NotADirectoryError) as e:
        parser.error(str(e))
    if importlib.util.find_spec("jupyterlab") is None:
        parser.error(f"JupyterLab is not installed for {sys.executable}; run `make lab` or "
                     "pip install jupyterlab")
    print(f"ecr-lab lab: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    from .config import export_cache_root

    # the kernels run in the notebooks' folder: a relative ECR_LAB_CACHE must mean the same folder there
    os.environ.update(export_cache_root())
    if sys.platform == "win32":  # no real exec there: os.execv spawns and returns at once
        return _run_child(cmd)
    os.execv(cmd[0], cmd)  # does not return
    raise AssertionError("os.execv returned")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
