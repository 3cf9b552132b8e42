"""4. Teacher throughput: sentences/s of the offline teacher (USE v3), cold (encoding) and from the
on-disk cache, on the whole bundled corpus, in one process."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab.data import load_corpus  # noqa: E402
from ecr_lab.teacher import CachedTeacher, USETeacher  # noqa: E402


def main() -> None:
    texts = load_corpus().texts
    with tempfile.TemporaryDirectory() as tmp:
        teacher = CachedTeacher(USETeacher(progress=False), tmp)
        t0 = time.perf_counter()
        teacher.encode(texts)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        teacher.encode(texts)
        warm = time.perf_counter() - t0
    rows = [{"path": "cold (encode + write cache)", "seconds": cold, "sentences_per_s": len(texts) / cold},
            {"path": "cache hit", "seconds": warm, "sentences_per_s": len(texts) / warm}]
    show(f"Offline teacher on the bundled corpus ({len(texts)} sentences)", rows)
    headline(f"teacher {len(texts) / cold:.0f} sentences/s cold, {len(texts) / warm:.0f} sentences/s from cache ({cold / warm:.0f}x)")


if __name__ == "__main__":
    main()
