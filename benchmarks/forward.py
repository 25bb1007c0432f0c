"""cnncalc run against PyTorch on the CPU: batch 1, the same threads, side by side in one run.

    python benchmarks/forward.py            # the table (markdown), a few minutes
    python benchmarks/forward.py --repeat 5

Each (tool, network) pair runs in a fresh process, so peak memory (ru_maxrss) is the
process's own; times are the median forward pass after one warm-up. The BLAS line is
the rate of a large float32 matrix product on this machine, the ceiling for both tools,
and each forward pass is also given as a fraction of it (2 x MACs / time / rate).
Needs the test extras (PyTorch); the PyTorch models are tests/zoo_torch.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {"resnet50": (3, 224, 224), "vgg16": (3, 224, 224), "unet": (1, 572, 572)}


def measure(tool: str, name: str, repeat: int) -> dict:
    import numpy as np

    shape = NETWORKS[name]
    if tool == "pytorch":
        import torch

        sys.path.insert(0, str(ROOT / "tests"))
        from zoo_torch import ZOO

        model = ZOO[name][0]().eval()
        x = torch.randn(1, *shape)

        def forward():
            with torch.no_grad():
                model(x)

        threads = torch.get_num_threads()
    else:
        import cnncalc
        from cnncalc.forward import runner

        net = cnncalc.load(ROOT / "examples" / f"{name}.yaml")
        summary = cnncalc.summary(net)
        rng = np.random.default_rng(0)
        params, _, _ = runner.prepare_weights(summary, net, {}, np.float32, rng)
        folded = runner.fold_batchnorms(net, params)
        x = rng.standard_normal((1, *shape)).astype(np.float32)

        def forward():
            runner.execute(net, params, x, folded=folded)

        threads = os.cpu_count()
    forward()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": statistics.median(times), "peak_mib": peak, "threads": threads}


def blas_rate() -> float:
    import numpy as np

    a = np.random.default_rng(0).random((4096, 4096), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return 2 * 4096**3 / best / 1e9


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def macs(name: str) -> int:
    import cnncalc

    return cnncalc.summary(cnncalc.load(ROOT / "examples" / f"{name}.yaml")).totals.macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", nargs=2, metavar=("TOOL", "NETWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.repeat)))
        return
    rate = blas_rate()
    rows = []
    for name in NETWORKS:
        results = {}
        for tool in ("pytorch", "cnncalc"):
            out = subprocess.run([sys.executable, __file__, "--one", tool, name, "--repeat", str(args.repeat)],
                                 capture_output=True, text=True, check=True)
            results[tool] = json.loads(out.stdout)
        flops = 2 * macs(name)
        rows.append((name, results, flops))
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"float32 BLAS matmul {rate:.0f} GFLOP/s; threads: PyTorch {rows[0][1]['pytorch']['threads']}, "
          f"NumPy's BLAS {rows[0][1]['cnncalc']['threads']}\n")
    print("| network (batch 1) | PyTorch | cnncalc run | time ratio | PyTorch peak | cnncalc peak | memory ratio | cnncalc / BLAS rate |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for name, r, flops in rows:
        t, c = r["pytorch"], r["cnncalc"]
        share = flops / c["seconds"] / 1e9 / rate
        print(f"| {name} | {t['seconds'] * 1000:.0f} ms | {c['seconds'] * 1000:.0f} ms | {c['seconds'] / t['seconds']:.2f}x "
              f"| {t['peak_mib']:.0f} MiB | {c['peak_mib']:.0f} MiB | {c['peak_mib'] / t['peak_mib']:.2f}x | {share:.0%} |")


if __name__ == "__main__":
    main()
