"""cnncalc summary against what a user would otherwise run, side by side in one run.

    pip install torchinfo           # the comparison only; cnncalc does not need it
    python benchmarks/summary.py

Each command runs as its own process (wall time, median of --repeat runs; peak memory
from the child's ru_maxrss). The reference is a Python script that imports torch, builds
ResNet-50 (tests/zoo_torch.py, module for module as torchvision) and prints
torchinfo.summary of it. Start-up is compared with the interpreter's own.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCHINFO = (
    "import sys; sys.path.insert(0, {tests!r})\n"
    "import torch, torchinfo\n"
    "from zoo_torch import resnet50\n"
    "print(torchinfo.summary(resnet50(), input_size=(1, 3, 224, 224), depth=10, verbose=0))\n"
)


def measure(command: list[str], repeat: int) -> tuple[float, float]:
    """(median seconds, peak MiB) of a command run as a child process."""
    times, peak = [], 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    cnncalc = [python, "-m", "cnncalc"]
    resnet = str(ROOT / "examples" / "resnet50.yaml")
    cases = [
        ("python -c pass (interpreter start-up)", [python, "-c", "pass"]),
        ("cnncalc --help", [*cnncalc, "--help"]),
        ("cnncalc size 224 -k 7 -s 2 -p 3", [*cnncalc, "size", "224", "-k", "7", "-s", "2", "-p", "3"]),
        ("cnncalc summary resnet50.yaml", [*cnncalc, "summary", resnet]),
        ("cnncalc summary resnet50.yaml --format json", [*cnncalc, "summary", resnet, "--format", "json"]),
        ("python: import torch; torchinfo.summary(ResNet-50)", [python, "-c", TORCHINFO.format(tests=str(ROOT / "tests"))]),
    ]
    # Peak memory per case needs a fresh parent per measurement: run each in its own process.
    if os.environ.get("CNNCALC_BENCH_ONE"):
        label, command = cases[int(os.environ["CNNCALC_BENCH_ONE"])]
        seconds, peak = measure(command, args.repeat)
        print(f"{seconds}\t{peak}")
        return
    results = []
    for index, (label, _) in enumerate(cases):
        out = subprocess.run([python, __file__, "--repeat", str(args.repeat)], capture_output=True, text=True, check=True,
                             env={**os.environ, "CNNCALC_BENCH_ONE": str(index)})
        seconds, peak = (float(v) for v in out.stdout.split())
        results.append((label, seconds, peak))
    reference = results[-1]
    print(f"{os.cpu_count()} cores; median of {args.repeat} runs each\n")
    print("| command | wall time | vs torchinfo | peak memory | vs torchinfo |")
    print("|---|--:|--:|--:|--:|")
    for label, seconds, peak in results:
        print(f"| {label} | {seconds * 1000:.0f} ms | {seconds / reference[1]:.3f}x | {peak:.0f} MiB | {peak / reference[2]:.3f}x |")


if __name__ == "__main__":
    main()
