from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from ecr_lab import config


def test_profiles_are_ordered_by_size():
    fast, full, gpu = (config.PROFILES[n] for n in ("fast", "full", "gpu"))
    assert fast.train_steps < full.train_steps < gpu.train_steps
    assert fast.units_per_topic is not None and full.units_per_topic is None


def test_profile_from_env_and_argument(monkeypatch):
    monkeypatch.setenv("ECR_LAB_PROFILE", "full")
    assert config.get_profile().name == "full"
    assert config.get_profile("fast").name == "fast"
    monkeypatch.setenv("ECR_LAB_PROFILE", "turbo")
    with pytest.raises(ValueError, match="unknown profile 'turbo'"):
        config.get_profile()


def test_profile_autodetect(monkeypatch):
    # start neutral: this test may itself run under CI (CI=true) or in Colab
    monkeypatch.delenv("ECR_LAB_PROFILE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(config, "in_colab", lambda: False)
    monkeypatch.setattr(config, "cuda_available", lambda: True)
    assert config.get_profile().name == "gpu"
    monkeypatch.setattr(config, "cuda_available", lambda: False)
    monkeypatch.setenv("CI", "true")
    assert config.get_profile().name == "fast"
    monkeypatch.setenv("CI", "")
    assert config.get_profile().name == "full"
    monkeypatch.setattr(config, "in_colab", lambda: True)  # Colab: fast, GPU or not; gpu only when chosen
    monkeypatch.setattr(config, "cuda_available", lambda: True)
    assert config.get_profile().name == "fast" and config.get_profile("gpu").name == "gpu"


def test_setup_refuses_the_gpu_profile_without_a_gpu_and_prints_the_expected_time(monkeypatch, capsys):
    monkeypatch.setattr(config, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU.*Change runtime type.*PROFILE = 'fast'"):
        config.setup("gpu", verbose=False)
    config.setup("fast", notebook="01_collapse")
    assert "expected time:" in capsys.readouterr().out


def test_profile_replace_is_a_copy():
    p = config.get_profile("fast")
    q = p.replace(train_steps=7)
    assert q.train_steps == 7 and p.train_steps != 7


def test_seed_everything_repeats():
    config.seed_everything(3)
    a = (np.random.rand(3), torch.rand(3))
    config.seed_everything(3)
    b = (np.random.rand(3), torch.rand(3))
    assert np.allclose(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        config.seed_everything(-1)


def test_seed_everything_leaves_the_environment_alone(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    before = dict(os.environ)
    config.seed_everything(5)
    assert dict(os.environ) == before


def test_cuda_available_false_only_when_torch_is_missing(monkeypatch):
    def broken():
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    with pytest.raises(RuntimeError, match="driver initialization"):
        config.cuda_available()
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert config.cuda_available() is False


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert config.get_device("auto") == expected
    assert config.get_device("AUTO") == expected
    assert config.get_device("cpu") == "cpu"


def test_device_forced_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="device='cuda' requested but no CUDA GPU.*device='auto'"):
        config.get_device("cuda")
    with pytest.raises(RuntimeError, match="device='mps' requested but MPS"):
        config.get_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device("cuda") == "cuda"
    with pytest.raises(ValueError, match="auto, cpu, cuda or mps"):
        config.get_device("tpu")


def test_setup_returns_session(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ECR_LAB_CACHE", str(tmp_path))
    s = config.setup(profile="fast", seed=1)
    assert s.profile.name == "fast" and s.seed == 1
    assert "profile=fast" in capsys.readouterr().out
    assert config.cache_dir() == tmp_path


def test_profile_is_checked_against_its_table():
    p = config.get_profile("fast")
    with pytest.raises(ValueError, match="k_anchors must be int in"):
        p.replace(k_anchors=1)
    with pytest.raises(ValueError, match="languages must be a tuple of at least 2"):
        p.replace(languages=("en",))
    with pytest.raises(ValueError, match="m_cues=9 must be <= k_anchors=8"):
        p.replace(k_anchors=8, m_cues=9)
    with pytest.raises(ValueError, match="map_method must be one of"):
        p.replace(map_method="tsne")
    assert p.replace(languages=("en", "de")).languages == ("en", "de")


def test_mixed_precision_auto_resolves_per_machine(monkeypatch):
    from ecr_lab import config
    from ecr_lab.experiment import train_config

    assert config.get_profile("gpu").mixed_precision == "auto"
    assert config.resolve_mixed_precision("bf16") == "bf16"
    monkeypatch.setattr(config, "cuda_available", lambda: False)
    assert config.resolve_mixed_precision("auto") == "no"  # no GPU: full precision
    assert train_config(config.get_profile("gpu"), "ecr", 0).mixed_precision == "no"
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        config.get_profile("fast").replace(mixed_precision="fp8")


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_on_gpus(monkeypatch, capability, expected):
    """A T4 (7.5) emulates bf16 but has only fp16 tensor cores: "auto" must pick fp16 there."""
    import torch

    from ecr_lab import config

    monkeypatch.setattr(config, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    assert config.resolve_mixed_precision("auto") == expected


def test_cache_is_stamped_and_a_cache_from_another_version_is_refused(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("ECR_LAB_CACHE", str(tmp_path / "cache"))
    path = config.cache_dir()  # new folder: created and stamped with this version
    stamp = json.loads((path / config.CACHE_STAMP).read_text())
    assert stamp == {"format": config.CACHE_FORMAT, "ecr_lab": __import__("ecr_lab").__version__}
    assert config.cache_problem() is None and config.cache_dir() == path
    (path / "embeddings").mkdir()
    (path / config.CACHE_STAMP).write_text(json.dumps({"format": 1, "ecr_lab": "0.0.1"}))  # copied from elsewhere
    with pytest.raises(config.CacheVersionError, match=r"built by ecr_lab 0\.0\.1.*make warm"):
        config.cache_dir()
    (path / config.CACHE_STAMP).unlink()  # a cache from before stamps: refused too, never reused
    with pytest.raises(config.CacheVersionError, match="before caches carried a version"):
        config.cache_dir()
    (path / config.CACHE_STAMP).write_text("{not json")
    assert "unreadable" in config.cache_problem(path)
    config.stamp_cache(path)
    assert config.cache_dir() == path


def test_cache_problem_tells_a_foreign_folder_from_an_old_cache(tmp_path):
    """A folder that is no ecr_lab cache (the USB stick's root, a home folder) is never told to be
    deleted; an old cache's fix quotes its path; a stamp being written (a hidden temporary file)
    does not make a new folder look unstamped; a file is not a folder."""
    import shlex

    stick = tmp_path / "usb stick"
    stick.mkdir()
    (stick / "slides.pdf").write_bytes(b"%PDF")
    problem = config.cache_problem(stick)
    assert "is not an ecr_lab cache" in problem and "rm -rf" not in problem
    (stick / "workspace").mkdir()
    problem = config.cache_problem(stick)
    assert "before caches carried a version" in problem and f"rm -rf {shlex.quote(str(stick))}" in problem
    new = tmp_path / "new"
    new.mkdir()
    (new / f".{config.CACHE_STAMP}.1234.tmp").write_text("{}")  # another process is stamping it
    assert config.cache_problem(new) is None
    a_file = tmp_path / "cache.txt"
    a_file.write_text("x")
    assert "is a file, not a folder" in config.cache_problem(a_file)


def test_cache_root_is_absolute_and_exported_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECR_LAB_CACHE", "rel/cache")
    assert config.cache_root() == tmp_path / "rel" / "cache"
    env = config.export_cache_root({"ECR_LAB_CACHE": "rel/cache", "OTHER": "1"})
    assert env == {"ECR_LAB_CACHE": str(tmp_path / "rel" / "cache"), "OTHER": "1"}
    assert config.export_cache_root({"OTHER": "1"}) == {"OTHER": "1"}
