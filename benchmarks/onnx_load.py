"""cnncalc summary on an ONNX file against loading the same file with onnx and onnxruntime.

    python benchmarks/onnx_load.py      # needs torch (to export ResNet-18), onnx, onnxruntime

Each command runs as its own process (wall time, median of --repeat runs). The reference
does the least a user needs before any figure: `onnx.load` the file and create an
onnxruntime InferenceSession for it (which parses, checks and optimises the graph; it
prints no parameters nor MACs). The files: examples/small-resnet.onnx, and ResNet-18 and
ConvNeXt-Tiny (tests/zoo_torch.py, torchvision's layout; ConvNeXt's GELU written out with Erf,
its permutes and layer scales) exported at 3x224x224 into a temporary folder.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "import onnx, onnxruntime; onnx.load({path!r}); onnxruntime.InferenceSession({path!r}, providers=['CPUExecutionProvider'])"


def seconds(command: list[str], repeat: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of a command run as a child process (the
    CPU time, user + system, is steadier on a shared machine)."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def export(builder: str, folder: Path) -> Path:
    """The torchvision-layout model tests/zoo_torch.py builds with `builder`, exported at 3x224x224."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    import zoo_torch

    path = folder / f"{builder}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(getattr(zoo_torch, builder)().eval(), torch.zeros(1, 3, 224, 224), path, dynamo=False,
                          opset_version=17, training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as folder:
        files = [("small-resnet.onnx", ROOT / "examples" / "small-resnet.onnx"), ("ResNet-18", export("resnet18", Path(folder))),
                 ("ConvNeXt-Tiny", export("ConvNeXtTiny", Path(folder)))]
        print(f"median of {args.repeat} runs each\n")
        print("| file | size | cnncalc summary: wall (CPU) | onnx.load + InferenceSession: wall (CPU) | ratio of CPU |")
        print("|---|--:|--:|--:|--:|")
        for label, path in files:
            ours = seconds([python, "-m", "cnncalc", "summary", str(path)], args.repeat)
            theirs = seconds([python, "-c", REFERENCE.format(path=str(path))], args.repeat)
            size = path.stat().st_size / 2**20
            print(f"| {label} | {size:.1f} MiB | {ours[0] * 1000:.0f} ms ({ours[1] * 1000:.0f} ms) | "
                  f"{theirs[0] * 1000:.0f} ms ({theirs[1] * 1000:.0f} ms) | {ours[1] / theirs[1]:.2f}x |")


if __name__ == "__main__":
    main()
