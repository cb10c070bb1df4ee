"""Wall time of the claim suite on a simulated bench: four models, and one for scale.

Runs `pytest claims` (all aircraft of the bench, their sessions in parallel),
`pytest claims -m spark`, and `pytest claims --one-at-a-time` (four models, one session
at a time) in turn, N times each, and prints the median, min and max wall seconds and
the ratios. Targets (DESIGN.md section 8): the whole suite, four models, under 60 s;
four models at most 1.3x the time of one; both on benches/sim.toml and on
benches/sim-dji.toml (the app link, Android phones over adb).

    .venv/bin/python perf/suite_time.py [-n 3] [--bench benches/sim-dji.toml]
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


def run(args: list[str], bench: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-q",
                              "-p", "no:cacheprovider", "--artifacts", tmp, "--bench", bench,
                              *args],
                             cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"the suite did not pass ({' '.join(args) or 'all'}):\n{res.stdout[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3, help="runs of each (default 3)")
    ap.add_argument("--bench", default="benches/sim.toml",
                    help="a simulated bench file (default benches/sim.toml)")
    opts = ap.parse_args()
    n, bench = opts.n, str((ROOT / opts.bench) if not Path(opts.bench).is_absolute()
                           else opts.bench)
    print(f"bench {opts.bench}")
    four, one, serial = [], [], []
    for _ in range(n):
        four.append(run([], bench))
        one.append(run(["-m", "spark"], bench))
        serial.append(run(["--one-at-a-time"], bench))
    med = statistics.median
    for name, xs in (("4 models in parallel", four),
                     ("1 model, spark (9 tests)", one),
                     ("4 models, one at a time", serial)):
        print(f"{name:32} median {med(xs):6.1f} s   "
              f"min {min(xs):6.1f}   max {max(xs):6.1f}   (n={n})")
    ratio = med(four) / med(one)
    print(f"ratio 4 models / 1 model: {ratio:.2f} (target at most 1.3: "
          f"{'met' if ratio <= 1.3 else 'NOT met'})")
    print(f"ratio one at a time / parallel: {med(serial) / med(four):.2f}")
    print(f"target: 4 models under 60 s -> {'met' if med(four) < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
