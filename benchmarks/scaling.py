"""cnncalc summary on generated networks of 1,000, 10,000 and 100,000 layers.

    python benchmarks/scaling.py

Chains (conv, relu, conv, relu, ...) and residual graphs (conv, batchnorm, relu, add
with the block's input), written as YAML and analysed as `summary --format json` in a
fresh process each: wall time, time per layer (flat if the growth is linear) and peak
memory.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (1_000, 10_000, 100_000)


def chain(n: int) -> str:
    lines = ["input: [8, 32, 32]", "layers:"]
    lines += ["  - conv2d: {out: 8, kernel: 3, padding: 1}" if i % 2 == 0 else "  - relu" for i in range(n)]
    return "\n".join(lines) + "\n"


def residual(n: int) -> str:
    lines = ["input: [8, 32, 32]", "layers:", "  - identity:", "    name: b0"]
    for block in range(1, n // 4 + 1):
        lines += [
            "  - conv2d: {out: 8, kernel: 3, padding: 1, bias: false}",
            "  - batchnorm",
            "  - relu",
            f"  - add: [relu_{block}, b{block - 1}]",
            f"    name: b{block}",
        ]
    return "\n".join(lines) + "\n"


def one(path: str) -> None:
    """Time one summary in a child and print its seconds and peak MiB (its own ru_maxrss)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cnncalc", "summary", path, "--format", "json"], stdout=subprocess.DEVNULL, check=True)
    print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        return one(sys.argv[2])
    print("| network | layers | wall time | per layer | peak memory |")
    print("|---|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as directory:
        for kind, make in (("chain", chain), ("residual", residual)):
            for n in SIZES:
                path = Path(directory) / f"{kind}{n}.yaml"
                path.write_text(make(n))
                out = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True, check=True)
                seconds, peak = (float(v) for v in out.stdout.split())
                print(f"| {kind} | {n:,} | {seconds:.2f} s | {seconds / n * 1e6:.0f} µs | {peak:.0f} MiB |")


if __name__ == "__main__":
    main()
