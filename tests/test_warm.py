"""`ecr-lab warm`: every notebook twice against one cache folder, cold vs warm measured."""

from __future__ import annotations

import json

import nbformat
import pytest

from ecr_lab import cli, config, warm

# a notebook that "trains" once: the first run writes a run into the workspace, the second finds it
_BUILD = """
import os, pathlib, time
ws = pathlib.Path(os.environ["ECR_LAB_CACHE"]) / "workspace" / os.environ["ECR_LAB_PROFILE"] / "runs" / "toy"
if not (ws / "final" / "run.json").exists():
    time.sleep(3.0)  # the expensive part, skipped once cached
    (ws / "final").mkdir(parents=True)
    (ws / "final" / "run.json").write_text("{}")
"""


def _notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_build.ipynb", _BUILD)
    _notebook(folder / "02_read.ipynb", "print(1 + 1)")
    _notebook(folder / "scratch.ipynb", "raise SystemExit('not a numbered notebook: never run')")
    return folder


def test_warm_builds_the_cache_once_and_measures_cold_against_warm(notebooks, tmp_path, monkeypatch):
    monkeypatch.setenv("ECR_LAB_CACHE", str(tmp_path / "cache"))
    table = warm.warm("fast", notebooks, progress=False)
    assert list(table.notebook) == ["01_build", "02_read"]  # numbered notebooks only, in order
    assert table.attrs["cache_was_empty"]
    build = table.set_index("notebook").loc["01_build"]
    assert build.first_s >= build.warm_s + 1.5  # the second run skipped the 3 s "training"
    assert (tmp_path / "cache" / "workspace" / "fast" / "runs" / "toy" / "final" / "run.json").exists()
    assert (tmp_path / "cache" / config.CACHE_STAMP).exists()  # the cache says which version built it
    record = json.loads((tmp_path / "cache" / "warm_times.json").read_text())
    assert record["profile"] == "fast" and [r["notebook"] for r in record["notebooks"]] == ["01_build", "02_read"]
    text = warm.summary(table, tmp_path / "cache")
    assert "workspace/fast: 1 trained runs (+1 built now)" in text and "cold (no trained run before)" in text
    assert "01_build" in text and "speed-up" in text
    again = warm.warm("fast", notebooks, progress=False)  # already warm: the first run is no longer cold
    assert not again.attrs["cache_was_empty"]
    text = warm.summary(again, tmp_path / "cache")
    assert "runs cached before" in text and "(+0 built now)" in text


def test_warm_once_builds_without_the_timing_run(notebooks, tmp_path, monkeypatch):
    monkeypatch.setenv("ECR_LAB_CACHE", str(tmp_path / "cache"))
    table = warm.warm("fast", notebooks, progress=False, once=True)
    assert table.warm_s.isna().all() and table.speedup.isna().all()
    assert (tmp_path / "cache" / "workspace" / "fast" / "runs" / "toy" / "final" / "run.json").exists()
    text = warm.summary(table, tmp_path / "cache")
    assert "speed-up" not in text and "nan" not in text


def test_a_relative_cache_path_is_one_folder_for_every_kernel(notebooks, tmp_path, monkeypatch):
    """Kernels run in the notebooks' folder: a relative ECR_LAB_CACHE once put the stamp in ./relcache
    and the runs in notebooks/relcache, and the summary showed an empty cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECR_LAB_CACHE", "relcache")
    warm.warm("fast", notebooks.relative_to(tmp_path), progress=False, once=True)
    assert (tmp_path / "relcache" / "workspace" / "fast" / "runs" / "toy" / "final" / "run.json").exists()
    assert not (notebooks / "relcache").exists()
    assert config.cache_root() == tmp_path / "relcache" and config.cache_root().is_absolute()


def test_warm_refuses_a_cache_from_another_version_and_names_the_fix(notebooks, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    (cache / "embeddings").mkdir(parents=True)
    (cache / config.CACHE_STAMP).write_text(json.dumps({"format": config.CACHE_FORMAT, "ecr_lab": "0.0.1"}))
    monkeypatch.setenv("ECR_LAB_CACHE", str(cache))
    assert cli.main(["warm", "--notebooks", str(notebooks)]) == 1
    err = capsys.readouterr().err
    assert "built by ecr_lab 0.0.1" in err and "rm -rf" in err and "ECR_LAB_CACHE" in err
    assert not (cache / "workspace").exists()  # nothing was run against it


def test_a_failing_notebook_and_a_missing_folder_say_what_happened(tmp_path, monkeypatch):
    monkeypatch.setenv("ECR_LAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="no numbered notebooks.*--notebooks DIR"):
        warm.find_notebooks(tmp_path / "nowhere")
    bad = _notebook(tmp_path / "01_bad.ipynb", "raise ValueError('broken cell')")
    with pytest.raises(RuntimeError, match="01_bad.ipynb failed:(.|\n)*broken cell"):
        warm.execute_timed(bad)


def test_cache_contents_counts_runs_anchor_sets_and_banks(tmp_path):
    (tmp_path / "workspace" / "full" / "runs" / "a" / "final").mkdir(parents=True)
    (tmp_path / "workspace" / "full" / "runs" / "a" / "final" / "run.json").write_text("{}")
    (tmp_path / "workspace" / "full" / "anchors").mkdir()
    (tmp_path / "workspace" / "full" / "anchors" / "anchors.json").write_text("{}")
    (tmp_path / "embeddings").mkdir()
    (tmp_path / "embeddings" / "bank.npz").write_bytes(b"0" * 2048)
    c = warm.cache_contents(tmp_path)
    assert c["workspaces"] == {"full": {"runs": 1, "anchor_sets": 1}} and c["embedding_banks"] == 1
    assert warm.cache_contents(tmp_path / "missing") == {"size_mb": 0, "embedding_banks": 0, "workspaces": {}}
