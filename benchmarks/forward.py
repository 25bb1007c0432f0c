"""cnncalc run against PyTorch on the CPU, side by side in one run, in A/B rounds.

    python benchmarks/forward.py                       # the README's table, several minutes
    python benchmarks/forward.py --rounds 9 --batch 1 --network resnet50
    python benchmarks/forward.py --dtype float64

For each network and batch, two worker processes are started, one per tool, each with its
model built, its weights ready and one warm-up pass done. Then every round runs one
forward pass in each, in turn (PyTorch, cnncalc, PyTorch, cnncalc, ...), each after a
pause (PAUSE) so that it never runs beside the other tool's still-spinning threads, and the figure is
the median of the per-round time ratios: a machine that slows down for a while slows
both sides of the rounds it touches, so the ratio survives a noisy machine better than
two medians taken minutes apart. Peak memory is each worker's own (ru_maxrss), so it
includes the model and the interpreter. The BLAS line is the rate of a large matrix
product measured in the same run, the ceiling for both tools; each network's share of it
is its arithmetic (2 x MACs x batch) over cnncalc's median time.

Both tools use the same threads (all cores: PyTorch's default intra-op threads and NumPy's
BLAS threads). Needs the test extras (PyTorch); the PyTorch models are tests/zoo_torch.py's,
and the cnncalc networks the examples of the same name.
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
NETWORKS = ("resnet50", "vgg16", "unet", "mobilenetv2", "efficientnet-b0")
TOOLS = ("pytorch", "cnncalc")
# Idle time before each pass. A BLAS or OpenMP thread that has finished its work keeps
# spinning on its core for a while before it sleeps (NumPy's OpenBLAS: 2^28 clock ticks,
# about a tenth of a second here): a pass started at once would run beside the other
# tool's spinning threads, one core short.
PAUSE = 0.3


def build(tool: str, name: str, batch: int, dtype: str):
    """The forward pass of `name` in `tool`, ready to be called (weights made, one warm-up)."""
    import numpy as np

    if tool == "pytorch":
        import torch

        sys.path.insert(0, str(ROOT / "tests"))
        from zoo_torch import ZOO

        shape = ZOO[name][1]
        model = ZOO[name][0]().eval().to(getattr(torch, dtype))
        x = torch.randn(batch, *shape, dtype=getattr(torch, dtype))

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
        kind = getattr(np, dtype)
        shape = next(iter(net.inputs.values()))
        params, _, _ = runner.prepare_weights(summary, net, {}, kind, rng)
        folded = runner.fold_batchnorms(net, params)
        epilogues, fused = runner.fuse_epilogues(net, folded)
        x = rng.standard_normal((batch, *shape)).astype(kind)

        def forward():
            runner.execute(net, params, x, folded=folded | fused, epilogues=epilogues)

        from cnncalc.layers import kernels

        threads = kernels.THREADS
    forward()
    return forward, threads


def worker(tool: str, name: str, batch: int, dtype: str) -> None:
    """Answers each line 'run' on standard input with the seconds of one forward pass, and
    'quit' with the process's peak memory and threads, as JSON lines."""
    forward, threads = build(tool, name, batch, dtype)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            start = time.perf_counter()
            forward()
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(json.dumps({"peak_mib": peak, "threads": threads}), flush=True)
            return


class Worker:
    def __init__(self, tool: str, name: str, batch: int, dtype: str):
        command = [sys.executable, __file__, "--worker", tool, name, str(batch), dtype]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask(None)  # ready

    def ask(self, line: str | None) -> dict:
        if line is not None:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise SystemExit(f"a worker stopped: {self.process.args}")
        return json.loads(answer)

    def close(self) -> dict:
        result = self.ask("quit")
        self.process.wait()
        return result


def compare(name: str, batch: int, dtype: str, rounds: int) -> dict:
    """Median per-round ratio (cnncalc / PyTorch), the median times, and the peaks."""
    workers = {tool: Worker(tool, name, batch, dtype) for tool in TOOLS}
    times = {tool: [] for tool in TOOLS}
    for _ in range(rounds):
        for tool in TOOLS:
            time.sleep(PAUSE)
            times[tool].append(workers[tool].ask("run")["seconds"])
    closing = {tool: workers[tool].close() for tool in TOOLS}
    ratios = [c / t for t, c in zip(times["pytorch"], times["cnncalc"])]
    return {
        "ratio": statistics.median(ratios),
        "ratios": (min(ratios), max(ratios)),
        "seconds": {tool: statistics.median(times[tool]) for tool in TOOLS},
        "peak_mib": {tool: closing[tool]["peak_mib"] for tool in TOOLS},
        "threads": {tool: closing[tool]["threads"] for tool in TOOLS},
    }


def blas_rate(dtype: str) -> float:
    """GFLOP/s of a 4096 x 4096 matrix product, the best of three."""
    import numpy as np

    a = np.random.default_rng(0).random((4096, 4096)).astype(dtype)
    a @ a
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 4096**3 / best / 1e9


def macs(name: str) -> int:
    import cnncalc

    return cnncalc.summary(cnncalc.load(ROOT / "examples" / f"{name}.yaml")).totals.macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="A/B rounds per network and batch (default 7)")
    parser.add_argument("--network", action="append", choices=NETWORKS, help="only these (repeatable)")
    parser.add_argument("--batch", action="append", type=int, help="batch sizes (repeatable; default 1 and 8)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--worker", nargs=4, metavar=("TOOL", "NETWORK", "BATCH", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, name, batch, dtype = args.worker
        worker(tool, name, int(batch), dtype)
        return
    rate = blas_rate(args.dtype)
    rows = []
    for name in args.network or NETWORKS:
        for batch in args.batch or (1, 8):
            rounds = args.rounds if name != "unet" or batch == 1 else max(3, args.rounds // 2)
            result = compare(name, batch, args.dtype, rounds)
            rows.append((name, batch, result, 2 * macs(name) * batch))
            print(f"{name} batch {batch}: {result['ratio']:.2f}x", file=sys.stderr, flush=True)
    threads = rows[0][2]["threads"]
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.dtype} BLAS matmul "
          f"{rate:.0f} GFLOP/s; threads: PyTorch {threads['pytorch']}, cnncalc's {threads['cnncalc']} (and NumPy's BLAS as many); "
          f"{args.rounds} A/B rounds\n")
    print(f"| network ({args.dtype}) | batch | PyTorch | cnncalc run | time ratio (median of rounds) | rounds' range "
          "| PyTorch peak | cnncalc peak | cnncalc / BLAS rate |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, batch, r, flops in rows:
        t, c = r["seconds"]["pytorch"], r["seconds"]["cnncalc"]
        low, high = r["ratios"]
        print(f"| {name} | {batch} | {t * 1000:.0f} ms | {c * 1000:.0f} ms | {r['ratio']:.2f}x | {low:.2f}-{high:.2f} "
              f"| {r['peak_mib']['pytorch']:.0f} MiB | {r['peak_mib']['cnncalc']:.0f} MiB | {flops / c / 1e9 / rate:.0%} |")


if __name__ == "__main__":
    main()
