"""Differential testing against PyTorch at scale: the random networks of
tests/differential.py (branches, several inputs and outputs, split and chunk parts,
shared layers), as many as asked, on all cores.

    python scripts/differential.py --cases 20000

Half the seeds draw valid networks, half broken ones. Prints how many agreed with PyTorch
(every layer's shape, the weights, the parameter count, what a Keras Model would hold,
the dead-layer warnings, the float64 values of every output), how many both rejected, the
disagreements by kind, and the first seeds that disagreed (rerun one with --seed N to see
the difference). Needs the test extras (PyTorch). Exit code 1 if any seed disagreed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import traceback
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def one(job: tuple[int, bool]) -> tuple[int, bool, str, str]:
    import torch

    torch.set_num_threads(1)
    from differential import compare

    seed, broken = job
    try:
        return seed, broken, compare(seed, broken), ""
    except AssertionError as exc:
        text = str(exc)  # the document in the middle; what differed at the end
        return seed, broken, "DISAGREE", text if len(text) < 3000 else text[:2000] + "\n...\n" + text[-800:]
    except Exception:  # noqa: BLE001 - a crash on either side is a finding too
        return seed, broken, "CRASH", traceback.format_exc()[-2000:]


def kind_of(outcome: str, detail: str) -> str:
    """A disagreement's kind: which side accepted, or which comparison differed."""
    if outcome == "CRASH":
        return "CRASH: " + detail.strip().splitlines()[-1][:120]
    if "\ncnncalc: None\n" in detail:
        return "accepted by cnncalc, refused by PyTorch"
    if "\nPyTorch: None\n" in detail:
        return "refused by cnncalc, accepted by PyTorch"
    if "Not equal to tolerance" in detail:
        return "output values differ"
    return detail.strip().splitlines()[-1].split(":")[0][:120]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000, help="how many networks (half of them broken)")
    parser.add_argument("--start", type=int, default=1_000_000, help="first seed (CI uses 0-199 and 10000-10199)")
    parser.add_argument("--seed", type=int, help="run just this seed, valid and broken, and show the outcome")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.seed is not None:
        for broken in (False, True):
            print(one((args.seed, broken)))
        return 0
    jobs = [(args.start + i, i % 2 == 1) for i in range(args.cases)]
    started = time.perf_counter()
    outcomes: Counter = Counter()
    findings = []
    with multiprocessing.Pool(args.jobs) as pool:
        for seed, broken, outcome, detail in pool.imap_unordered(one, jobs, chunksize=16):
            outcomes[(outcome, broken)] += 1
            if outcome in ("DISAGREE", "CRASH"):
                findings.append((seed, broken, outcome, detail))
    seconds = time.perf_counter() - started
    print(f"{args.cases:,} random networks in {seconds:.0f} s on {args.jobs} processes")
    for kind, broken in (("valid", False), ("broken", True)):
        parts = ", ".join(f"{o} {outcomes[(o, broken)]:,}" for o in ("agree", "both reject", "DISAGREE", "CRASH"))
        print(f"  {kind:6}: {parts}")
    kinds = Counter(kind_of(outcome, detail) for _, _, outcome, detail in findings)
    for what, count in kinds.most_common():
        print(f"  {count:6,}  {what}")
    for seed, broken, outcome, detail in findings[:20]:
        print(f"\n{outcome} seed {seed} broken={broken}\n{detail}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
