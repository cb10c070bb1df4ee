"""Relay command round trip per protocol, on the simulators, beside the physical figures.

For each relay driver: open it against its simulator on a real pty, then time N reads of
one channel (`get`, one command and its reply) and N switches (`set`, which on boards
that read back is a command plus a read-back). Prints median and p99 in milliseconds.
The simulators answer at once, so these are the harness's own costs (pyserial, the pty,
the driver); on a real board add the figures printed at the end.

    .venv/bin/python perf/relay_latency.py [-n 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from hil.power.boards import DRIVERS
from hil.sim.bench import SIMULATORS


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def measure(driver: str, n: int) -> dict[str, tuple[float, float]]:
    with SIMULATORS[driver](8) as sim:
        board = DRIVERS[driver](sim.url, 8)
        try:
            out = {}
            for what, op in (("get", lambda i: board.get(i % 8)),
                             ("set", lambda i: board.set(i % 8, i % 2 == 0))):
                times = []
                for i in range(n):
                    t0 = time.perf_counter()
                    op(i)
                    times.append((time.perf_counter() - t0) * 1000)
                out[what] = (statistics.median(times), percentile(times, 99))
            return out
        finally:
            board.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="commands per figure (default 1000)")
    args = ap.parse_args()
    print(f"relay command round trip on the simulators, {args.n} commands each (ms)")
    print(f"{'driver':10} {'get median':>11} {'get p99':>9} {'set median':>11} {'set p99':>9}")
    for driver in DRIVERS:
        r = measure(driver, args.n)
        print(f"{driver:10} {r['get'][0]:11.3f} {r['get'][1]:9.3f} "
              f"{r['set'][0]:11.3f} {r['set'][1]:9.3f}")
    print("\nphysical figures to add on a real bench: relay contact settle ~10 ms; "
          "FTDI default latency timer 16 ms per reply (KMTronic, Devantech over FTDI; "
          "lower it with setserial/latency_timer); CH340 and Numato CDC-ACM ~1 ms USB frame")


if __name__ == "__main__":
    main()
