"""``python -m aot.train.export RUN_CHECKPOINT [MORE ...] OUT``: a release file from training.

Keeps only the official-format ``state_dict`` (no optimizer or run state), in float16 to
halve the size; :func:`aot.load_model` reads it back into float32. Given several checkpoints
of one run, it writes the average of their weights: a cheap ensemble of the run's last steps,
or, with ``--weights``, an interpolation between an earlier stage and a later one (fine-tuning
further on synthetic clips fits them better and real video worse; a mix of the two stages
keeps most of the gain and the robustness).
"""

from __future__ import annotations

import argparse
import sys

import torch

from aot.checkpoint import check_state_dict, infer_variant, read_state_dict
from aot.config import VARIANTS
from aot.model.deaot import DeAOT


def average_state_dicts(states: list[dict[str, torch.Tensor]],
                        weights: list[float] | None = None) -> dict[str, torch.Tensor]:
    """The (weighted) mean of floating-point entries; other entries (counters) from the last
    state. ``weights`` are relative: they are normalised to sum to 1 (default: equal)."""
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError("the checkpoints to average hold different keys")
    weights = [1.0] * len(states) if weights is None else list(weights)
    if len(weights) != len(states) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"need one non-negative weight per checkpoint, got {weights} for "
                         f"{len(states)} checkpoints")
    share = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    return {k: sum(w * s[k].double() for w, s in zip(share.tolist(), states)).to(v.dtype)
            if v.is_floating_point() else v for k, v in states[-1].items()}


def export(sources: list[str], target: str, half: bool = True,
           weights: list[float] | None = None) -> None:
    """Write the (weighted) average of the weights of ``sources`` to ``target``, checked
    against the variant they belong to."""
    states = [read_state_dict(source) for source in sources]
    variants = {infer_variant(state, source) for state, source in zip(states, sources)}
    if len(variants) != 1:
        raise ValueError(f"cannot average checkpoints of different variants: {sorted(variants)}")
    state = average_state_dicts(states, weights) if len(states) > 1 else states[0]
    check_state_dict(DeAOT(VARIANTS[variants.pop()]), state, sources[0])
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"state_dict": state}, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aot.train.export", description=__doc__)
    parser.add_argument("sources", nargs="+", metavar="CHECKPOINT",
                        help="one training checkpoint, or several to average")
    parser.add_argument("target")
    parser.add_argument("--weights", type=float, nargs="+", metavar="W",
                        help="relative weight of each checkpoint (default: equal)")
    parser.add_argument("--float32", action="store_true", help="keep float32 weights")
    args = parser.parse_args(argv)
    if args.weights is not None and len(args.weights) != len(args.sources):
        parser.error(f"--weights needs {len(args.sources)} values, one per checkpoint")
    export(args.sources, args.target, half=not args.float32, weights=args.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
