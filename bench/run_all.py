"""`make bench`: every benchmark in one go (each prints a table and a HEADLINE line).

Run on 2 CPU cores in about 13 minutes. Results go to stdout and to bench/latest.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["inference_overhead.py", "training_overhead.py", "anchor_derivation.py", "teacher_throughput.py",
           "notebooks_suite.py", "trainer_throughput.py",
           "cues_top_backward.py"]


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    from ecr_lab.pipeline import machine

    lines = [f"# Benchmarks\n\nMachine: {machine()}\n"]
    t_all = time.perf_counter()
    failed = 0
    for script in SCRIPTS:
        t0 = time.perf_counter()
        print(f"\n===== {script} =====", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True)
        print(proc.stdout)
        heads = [ln for ln in proc.stdout.splitlines() if ln.startswith("HEADLINE:")]
        if proc.returncode != 0:
            failed += 1
            print(proc.stderr[-3000:], file=sys.stderr)
            heads = [f"HEADLINE: FAILED (exit {proc.returncode})"]
        lines.append(f"- `{script}` ({time.perf_counter() - t0:.0f} s): {heads[-1][10:] if heads else 'no headline'}")
    lines.append(f"\nTotal: {time.perf_counter() - t_all:.0f} s")
    (HERE / "latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
