"""``python -m aot.train``: train or fine-tune a DeAOT variant.

    python -m aot.train --variant deaott --data synthetic --steps 2000 --out runs/deaott
    python -m aot.train --init checkpoints/R50_DeAOTL_PRE_YTB_DAV.pth --variant r50_deaotl \\
        --data synthetic /data/DAVIS --steps 1000 --lr 2e-5 --out runs/finetune
    python -m aot.train ... --resume auto          # continue from the latest checkpoint
"""

from __future__ import annotations

import argparse
import logging
import sys

from aot.config import VARIANTS
from aot.train.trainer import TrainConfig, train


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def main(argv: list[str] | None = None) -> int:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m aot.train", description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default=defaults.variant, choices=sorted(VARIANTS))
    parser.add_argument("--out", default=defaults.out, help="checkpoints and train.log")
    parser.add_argument("--data", nargs="+", default=list(defaults.data),
                        help="'synthetic' and/or VOS dataset folders")
    parser.add_argument("--init", help="checkpoint to fine-tune from")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--frames", type=int, default=defaults.frames)
    parser.add_argument("--max-gap", type=int, default=defaults.max_gap,
                        help="largest step between sampled frames of a synthetic clip")
    parser.add_argument("--sequential-start", type=float, default=defaults.sequential_start,
                        help="share of steps after which predictions feed the memory")
    parser.add_argument("--size", type=_size, default=defaults.size, help="HxW of the input")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--min-lr", type=float, default=defaults.min_lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--save-every", type=int, default=defaults.save_every)
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 mixed precision (default: on for CUDA)")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="processes rendering batches ahead (batches do not depend on it)")
    parser.add_argument("--resume", help="checkpoint to resume from, or 'auto'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = TrainConfig(variant=args.variant, out=args.out, data=tuple(args.data),
                         init=args.init, steps=args.steps, batch_size=args.batch_size,
                         frames=args.frames, max_gap=args.max_gap, size=args.size,
                         sequential_start=args.sequential_start, lr=args.lr, min_lr=args.min_lr,
                         seed=args.seed, save_every=args.save_every, device=args.device,
                         amp=args.amp, workers=args.workers)
    path = train(config, resume=args.resume)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
