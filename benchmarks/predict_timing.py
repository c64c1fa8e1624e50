"""How long ``brainlib predict`` takes for one image, as a user types it: a fresh process each time (interpreter
start, imports, checkpoint load, one forward pass), beside ``python -c "import torch"`` alone, the floor no model can
go under. Writes results/predict_timing.csv (median, min and max over --runs interleaved runs of each command).

    python benchmarks/predict_timing.py                 # the default and transfer checkpoints, 7 runs each
    python benchmarks/predict_timing.py --runs 3 --image some.jpg

Run it on an otherwise idle machine: the numbers are wall-clock seconds. The image is the first Testing image of
the configured dataset unless --image says otherwise; a synthetic dataset writes under results/synthetic/, never
over the committed file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's brainlib, not an installed one

import pandas as pd  # noqa: E402

from brainlib import config, data  # noqa: E402

RECIPES = ("robust", "transfer")  # the default recipe's checkpoint and the pretrained one


def commands(image: Path) -> dict[str, list[str]]:
    """What is timed: importing torch alone, then ``brainlib predict`` with each shipped checkpoint."""
    cmds = {"import torch (no model)": [sys.executable, "-c", "import torch"]}
    for recipe in RECIPES:
        cmds[f"brainlib predict --recipe {recipe}"] = [
            sys.executable, "-m", "brainlib.cli", "predict", "--recipe", recipe, "--device", "cpu", str(image)
        ]  # fmt: skip
    return cmds


def time_commands(cmds: dict[str, list[str]], runs: int) -> pd.DataFrame:
    """Wall seconds of each command over ``runs`` rounds, the commands interleaved within a round (so a slow
    stretch of the machine hits all of them alike)."""
    seconds: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[name].append(time.perf_counter() - t0)
    return pd.DataFrame(
        [
            {
                "command": name,
                "runs": len(s),
                "median (s)": round(statistics.median(s), 3),
                "min (s)": round(min(s), 3),
                "max (s)": round(max(s), 3),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            }
            for name, s in seconds.items()
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image", type=Path, help="the image to classify (default: the first Testing image)")
    args = parser.parse_args(argv)
    root = config.data_dir()
    image = args.image or sorted((root / "Testing" / "glioma").glob("*.jpg"))[0]
    table = time_commands(commands(image), args.runs)
    out = config.RESULTS_DIR / ("synthetic" if data.is_synthetic(root) else "") / "predict_timing.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
