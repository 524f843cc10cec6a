"""``python -m aot.train.export RUN_CHECKPOINT OUT``: a training checkpoint as a release file.

Keeps only the official-format ``state_dict`` (no optimizer or run state), in float16 to
halve the size; :func:`aot.load_model` reads it back into float32.
"""

from __future__ import annotations

import argparse
import sys

import torch

from aot.checkpoint import check_state_dict, infer_variant, read_state_dict
from aot.config import VARIANTS
from aot.model.deaot import DeAOT


def export(source: str, target: str, half: bool = True) -> None:
    state = read_state_dict(source)
    variant = infer_variant(state, source)
    check_state_dict(DeAOT(VARIANTS[variant]), state, source)
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"state_dict": state}, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aot.train.export", description=__doc__)
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    args = parser.parse_args(argv)
    export(args.source, args.target, half=not args.float32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
