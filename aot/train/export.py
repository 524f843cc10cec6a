"""``python -m aot.train.export RUN_CHECKPOINT [MORE ...] OUT``: a release file from training.

Keeps only the official-format ``state_dict`` (no optimizer or run state), in float16 to
halve the size; :func:`aot.load_model` reads it back into float32. Given several checkpoints
of one run, it writes the average of their weights (a cheap ensemble of the run's last
steps).
"""

from __future__ import annotations

import argparse
import sys

import torch

from aot.checkpoint import check_state_dict, infer_variant, read_state_dict
from aot.config import VARIANTS
from aot.model.deaot import DeAOT


def average_state_dicts(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean of floating-point entries; other entries (counters) from the last state."""
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError("the checkpoints to average hold different keys")
    return {k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
            if v.is_floating_point() else v for k, v in states[-1].items()}


def export(sources: list[str], target: str, half: bool = True) -> None:
    """Write the (averaged) weights of ``sources`` to ``target``, checked against the
    variant they belong to."""
    states = [read_state_dict(source) for source in sources]
    variants = {infer_variant(state, source) for state, source in zip(states, sources)}
    if len(variants) != 1:
        raise ValueError(f"cannot average checkpoints of different variants: {sorted(variants)}")
    state = average_state_dicts(states) if len(states) > 1 else states[0]
    check_state_dict(DeAOT(VARIANTS[variants.pop()]), state, sources[0])
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"state_dict": state}, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aot.train.export", description=__doc__)
    parser.add_argument("sources", nargs="+", metavar="CHECKPOINT",
                        help="one training checkpoint, or several to average")
    parser.add_argument("target")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    args = parser.parse_args(argv)
    export(args.sources, args.target, half=not args.float32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
