"""Wall time of the claim suite on the simulated bench: four models, and one for scale.

Runs `pytest claims` (all aircraft of benches/sim.toml) and `pytest claims -m spark`
alternately, N times each, and prints the median, min and max wall seconds, the ratio,
and where the time goes (power sessions and observation windows are fixed costs of the
scenarios; the rest is the harness). Target (DESIGN.md section 8): the whole suite, four
models, under 60 s.

    .venv/bin/python perf/suite_time.py [-n 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-q",
                              "-p", "no:cacheprovider", "--artifacts", tmp, *args],
                             cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"the suite did not pass ({' '.join(args) or 'all'}):\n{res.stdout[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3, help="runs of each (default 3)")
    n = ap.parse_args().n
    four, one = [], []
    for _ in range(n):
        four.append(run([]))
        one.append(run(["-m", "spark"]))
    for name, xs in (("4 models (35 claim tests)", four), ("1 model, spark (9 tests)", one)):
        print(f"{name:28} median {statistics.median(xs):6.1f} s   "
              f"min {min(xs):6.1f}   max {max(xs):6.1f}   (n={n})")
    print(f"ratio 4 models / 1 model: {statistics.median(four) / statistics.median(one):.2f} "
          "(models run one after another on this bench)")
    print(f"target: 4 models under 60 s -> "
          f"{'met' if statistics.median(four) < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
