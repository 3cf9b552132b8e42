"""`make lab` / `ecr-lab lab`: JupyterLab on notebooks/, also as root (containers, cloud notebooks)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import stop_process

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _lab_recipe() -> list[str]:
    """The recipe lines of the Makefile's ``lab:`` target (tab-indented lines after it)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"lab\s*:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line[1:])
    return recipe


def test_make_lab_runs_ecr_lab_lab():
    assert _lab_recipe() == ["$(VENV)/bin/ecr-lab lab $(LAB_ARGS)"]
    assert re.search(r"^LAB_ARGS\s*\?=", (ROOT / "Makefile").read_text(), re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> int | None:
    """HTTP status of ``url`` (no proxy), or None when nothing answers yet."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_ecr_lab_lab_starts_jupyterlab_and_stops(tmp_path):
    """The command line of `make lab` (LAB_ARGS filled in) serves JupyterLab, as root too."""
    script = Path(sys.executable).parent / "ecr-lab"
    assert script.is_file(), f"{script} missing: install the package (pip install -e .)"
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [str(script), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", "--notebooks", str(NOTEBOOKS)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    try:
        status, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            status = _answers(url)
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, (
            f"JupyterLab did not answer 200 on {url} (got {status}, exit code {proc.poll()});"
            f" output of {' '.join(cmd)}:\n{log.read_text(errors='replace')}"
        )
    finally:
        if not stop_process(proc):
            pytest.fail(f"JupyterLab ignored SIGTERM; output:\n{log.read_text(errors='replace')}")
    assert proc.returncode is not None
    assert _answers(url) is None, "the server still answers after it was stopped"


def test_ecr_lab_lab_missing_folder_is_a_clear_error(tmp_path):
    script = Path(sys.executable).parent / "ecr-lab"
    r = subprocess.run([str(script), "lab", "--notebooks", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "nope" in r.stderr and "does not exist" in r.stderr and "--notebooks" in r.stderr


@pytest.fixture
def lab_module():
    from ecr_lab import lab

    return lab


def test_lab_command_as_root_adds_allow_root(monkeypatch, lab_module):
    monkeypatch.setattr(os, "geteuid", lambda: 0, raising=False)
    argv = lab_module.lab_command(str(NOTEBOOKS), ["--no-browser"])
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--allow-root" in argv
    assert f"--ServerApp.root_dir={NOTEBOOKS}" in argv
    assert argv[-1] == "--no-browser"  # user arguments last, so they win


def test_lab_command_not_root_has_no_allow_root(monkeypatch, lab_module):
    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    argv = lab_module.lab_command(str(NOTEBOOKS))
    assert argv == [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS}"]
    monkeypatch.delattr(os, "geteuid", raising=False)  # Windows: no geteuid, never root
    assert "--allow-root" not in lab_module.lab_command(str(NOTEBOOKS))


def test_lab_command_missing_folder(tmp_path, lab_module):
    with pytest.raises(FileNotFoundError, match=r"nope.*does not exist.*--notebooks"):
        lab_module.lab_command(str(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        lab_module.lab_command(str(tmp_path / "file"))


def test_main_passes_jupyter_arguments_through(monkeypatch, lab_module):
    seen = {}

    def fake_execv(path, argv):
        seen["path"], seen["argv"] = path, argv
        raise SystemExit(0)

    monkeypatch.setattr(os, "geteuid", lambda: 1000, raising=False)
    monkeypatch.setattr(os, "execv", fake_execv)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(SystemExit):
        lab_module.main(["--port", "9999", "--notebooks", str(NOTEBOOKS), "--no-browser"])
    assert seen["path"] == sys.executable
    assert seen["argv"][4:] == ["--port", "9999", "--no-browser"]
    assert seen["argv"][3] == f"--ServerApp.root_dir={NOTEBOOKS}"


def test_cli_lab_subcommand_forwards_to_lab_main(monkeypatch):
    from ecr_lab import cli, lab

    calls = []
    monkeypatch.setattr(lab, "main", lambda argv: calls.append(argv) or 0)
    assert cli.main(["lab", "--no-browser", "--port=1", "--notebooks", "nb"]) == 0
    assert calls == [["--no-browser", "--port=1", "--notebooks", "nb"]]
    assert cli.main(["lab"]) == 0 and calls[-1] == []


def test_main_on_windows_runs_a_child_and_returns_its_code(monkeypatch, lab_module):
    ran = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("no exec on Windows"))
    monkeypatch.setattr(lab_module, "_run_child", lambda cmd: ran.append(cmd) or 7)
    assert lab_module.main(["--notebooks", str(NOTEBOOKS), "--no-browser"]) == 7
    assert ran[0][-1] == "--no-browser"
    monkeypatch.undo()
    assert lab_module._run_child([sys.executable, "-c", "raise SystemExit(3)"]) == 3
