"""5. Notebook suite: wall time and peak memory of each notebook in the fast profile, each executed
in a fresh kernel (nbclient), cold (empty workspace) then warm (artifacts cached).
Targets: under 3 minutes and under 3 GiB each on 2 cores. The times are also written to
``ecr_lab/notebook_times.json``, which each notebook's first cell reads to print its expected time
(:func:`ecr_lab.colab.expected_time`)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import headline, show  # noqa: E402

from ecr_lab.warm import execute_timed, find_notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, ECR_LAB_PROFILE="fast", ECR_LAB_CACHE=cache)
        for phase in ("cold", "warm"):
            for nb in find_notebooks(ROOT / "notebooks"):
                r = execute_timed(nb, env, timeout=900)
                rows.append({"notebook": nb.stem, "phase": phase, **r})
    from ecr_lab.colab import write_times
    from ecr_lab.config import get_device
    from ecr_lab.pipeline import machine

    device = "cpu" if get_device("auto") == "cpu" else "gpu"
    write_times([{**r, "profile": "fast", "device": device} for r in rows], machine=machine())
    df = show("Notebooks in the fast profile (fresh kernel each; cold = empty cache)", rows)
    cold = df[df.phase == "cold"]
    headline(f"slowest notebook {cold.wall_s.max():.0f} s cold (target < 180 s), peak memory {df.peak_gib.max():.2f} GiB "
             f"(target < 3 GiB); suite {cold.wall_s.sum():.0f} s cold, {df[df.phase == 'warm'].wall_s.sum():.0f} s warm")


if __name__ == "__main__":
    main()
