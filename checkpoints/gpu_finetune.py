"""Fine-tune candidate default models on a lent GPU within a fixed time budget.

    python checkpoints/gpu_finetune.py --out OUT_DIR [--budget 560] [--workers 7]

Two DeAOT-T runs start from the bundled model side by side on one GPU:

* ``A``: 5-frame clips, batch 32, peak learning rate 2e-4;
* ``B``: 8-frame clips, batch 16, peak 1e-4, predictions in the memory from the start.

A short probe of both measures their speed together, so that each run's ``--steps`` (and
with it its learning-rate schedule) fits the budget; the log records each exact
``python -m aot.train`` command. ``OUT_DIR`` receives four float16 candidates (each run's
last checkpoint and the average of its last three), both ``train.log`` files and
``session.txt``. Pick among the candidates, alone or mixed half and half with the bundled
model (``python -m aot.train.export ... --weights``), with
``python -m tracker bench-synthetic --deaot FILE --seed 424242 --clips 100 --flip on``
(validation: 20 clips are too few to rank close candidates) and on the real demo clip
(``tests/test_default_model.py``: synthetic-only training can fit the synthetic clips
better and real footage worse), then score only the chosen one on the held-out seed.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger("gpu_finetune")

RUNS = {
    "A": ["--frames", "5", "--batch-size", "32", "--lr", "2e-4", "--min-lr", "1e-5",
          "--seed", "11"],
    "B": ["--frames", "8", "--batch-size", "16", "--lr", "1e-4", "--min-lr", "1e-5",
          "--sequential-start", "0", "--seed", "12"],
}
BUNDLED = (Path(__file__).resolve().parents[1] / "tracker" / "weights"
           / "clicktrack_deaott_synthetic.pth")


def rate_from_log(log_file: Path) -> float | None:
    """Steps per second over the second half of the steps a ``train.log`` records."""
    if not log_file.exists():
        return None
    points = [(int(m.group(1)), float(m.group(2))) for m in
              re.finditer(r"step (\d+) loss .* ([0-9.]+) s$", log_file.read_text(), re.M)]
    if len(points) < 3:
        return None
    (s0, t0), (s1, t1) = points[len(points) // 2], points[-1]
    return (s1 - s0) / (t1 - t0) if t1 > t0 else None


def start_runs(args: argparse.Namespace, root: Path, steps: dict[str, int],
               save_every: dict[str, int]) -> dict[str, subprocess.Popen]:
    processes = {}
    for name, options in RUNS.items():
        out = root / name
        out.mkdir(parents=True, exist_ok=True)
        size = "65x65" if args.smoke else "161x161"
        if args.smoke:  # batches of 2 instead of the run's batch size
            options = list(options)
            options[options.index("--batch-size") + 1] = "2"
        command = [sys.executable, "-m", "aot.train", "--variant", "deaott", "--data",
                   "synthetic", "--size", size, "--amp", "--device", args.device, "--workers",
                   str(args.workers), *options, "--init", str(root.parent / "init.pth"),
                   "--steps", str(steps[name]), "--save-every", str(save_every[name]),
                   "--out", str(out)]
        logger.info("run %s: %s", name, " ".join(command[1:]))
        with (out / "stdout.txt").open("w") as stdout:
            processes[name] = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT)
    return processes


def wait(processes: dict[str, subprocess.Popen], deadline: float) -> None:
    for name, process in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            logger.info("run %s passed its deadline; stopped", name)
            process.kill()
            process.wait()
        logger.info("run %s exit %s", name, process.returncode)


def main() -> int:
    began = time.time()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_finetune"))
    parser.add_argument("--budget", type=float, default=560, help="seconds for everything")
    parser.add_argument("--workers", type=int, default=7, help="loader processes per run")
    parser.add_argument("--probe-steps", type=int, default=100)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny batches (a CPU dry run)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(message)s",
                        handlers=[logging.StreamHandler(),
                                  logging.FileHandler(args.out / "session.txt")])
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    shutil.copy(BUNDLED, args.work / "init.pth")

    probe = start_runs(args, args.work / "probe", {n: args.probe_steps for n in RUNS},
                       {n: 10 ** 6 for n in RUNS})
    wait(probe, time.time() + 75)
    rates = {n: rate_from_log(args.work / "probe" / n / "train.log") for n in RUNS}
    for name, rate in rates.items():
        if rate is None:
            stdout = (args.work / "probe" / name / "stdout.txt").read_text()
            logger.error("probe %s failed:\n%s", name, stdout[-3000:])
            return 1
        logger.info("probe %s: %.2f steps/s", name, rate)

    train_end = began + args.budget - 25
    seconds = train_end - time.time() - 25  # start-up, autotuning, checkpoints
    steps = {n: max(100, int(rates[n] * seconds * 0.93) // 60 * 60) for n in RUNS}
    logger.info("training for about %.0f s: steps %s", seconds, steps)
    wait(start_runs(args, args.work / "runs", steps, {n: steps[n] // 12 for n in RUNS}),
         train_end)

    for name in RUNS:
        run = args.work / "runs" / name
        if (run / "train.log").exists():
            shutil.copy(run / "train.log", args.out / f"train_{name}.log")
        saved = sorted(run.glob("step_*.pth"), key=lambda p: int(p.stem.split("_")[1]))
        if not saved:
            logger.error("run %s saved no checkpoint:\n%s", name,
                         (run / "stdout.txt").read_text()[-3000:])
            continue
        candidates = {f"{name}_{saved[-1].stem}": saved[-1:]}
        if len(saved) >= 3:
            candidates[f"{name}_avg3_{saved[-1].stem}"] = saved[-3:]
        for label, sources in candidates.items():
            subprocess.run([sys.executable, "-m", "aot.train.export", *map(str, sources),
                            str(args.out / f"{label}.pth")], check=True)
            logger.info("exported %s from %s", label, [p.name for p in sources])
    return 0


if __name__ == "__main__":
    sys.exit(main())
