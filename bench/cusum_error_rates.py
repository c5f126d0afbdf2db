"""Error rates of the LC-CUSUM 'competent' flag of the progress page, before and after.

Usage: python bench/cusum_error_rates.py [--reps 20000] [--seed 7]

The progress page's design (``core.progress``): 20% wrong calls acceptable, 40% unacceptable,
alpha = beta = 0.05. Before: the flag used the SPRT's h0 as the LC-CUSUM limit. After: Biau's
limit chosen by simulation for the horizon (``core.stats.curves.lc_cusum_limit``, its own seed);
the runs here use another seed, so they check the limit rather than repeat its fit. For each
horizon: the share of trainees at 40% errors declared competent (should be <= 5%), and for
trainees at 20% and 10% errors the share declared competent and the median attempt it
happened at.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.progress import ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR  # noqa: E402
from core.stats.curves import cusum_limits, lc_cusum_limit, simulate_lc_cusum  # noqa: E402

HORIZONS = (50, 100, 200, 400)
GOOD_RATES = (ACCEPTABLE_ERROR, ACCEPTABLE_ERROR / 2)


def rates(rate: float, s: float, h: float, horizon: int, reps: int, seed: int) -> str:
    _, first = simulate_lc_cusum(rate, s, horizon, reps, seed, h)
    signalled = first[first > 0]
    median = f"{np.median(signalled):.0f}" if len(signalled) else "-"
    return f"{len(signalled) / reps:>6.1%} @{median:>4}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    design = cusum_limits(ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR)
    s = design["s"]
    print(f"LC-CUSUM, acceptable {ACCEPTABLE_ERROR:.0%} / unacceptable {UNACCEPTABLE_ERROR:.0%} "
          f"wrong calls, beta {design['beta']}; {args.reps} simulated trainees per cell "
          f"(seed {args.seed}); 'x% @n': share declared competent within the horizon, median "
          f"attempt of the declaration")
    print(f"{'horizon':>7} {'limit':>14} {'h':>6} | {'false competent':>15} | "
          + " | ".join(f"{'competent at ' + format(r, '.0%'):>16}" for r in GOOD_RATES))
    for index, horizon in enumerate(HORIZONS):
        seed = args.seed + 10 * index
        for name, h in (("before: SPRT h0", design["h0"]),
                        ("after: Biau", lc_cusum_limit(ACCEPTABLE_ERROR, UNACCEPTABLE_ERROR,
                                                       design["beta"], horizon))):
            false = rates(UNACCEPTABLE_ERROR, s, h, horizon, args.reps, seed)
            good = [rates(r, s, h, horizon, args.reps, seed + 1 + k)
                    for k, r in enumerate(GOOD_RATES)]
            print(f"{horizon:>7} {name:>15} {h:>5.2f} | {false:>15} | "
                  + " | ".join(f"{g:>16}" for g in good))
    print(f"took {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
