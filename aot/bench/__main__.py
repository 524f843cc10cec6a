"""Benchmarks of the propagation engine.

    python -m aot.bench --variant r50_deaotl --size 480x854 --objects 2 --frames 50 [--device cuda]
    python -m aot.bench --variant r50_deaotl --videos 4 --device cuda   # 4 videos, one batch
    python -m aot.bench --suite local-attention [--device cuda]
    python -m aot.bench --suite gpu [--out DIR]

The default suite prints the median time per frame and the peak memory. ``local-attention``
times the 15x15 short-term attention at the token grid of a 480x854 frame (31x54 tokens,
1024-channel values): the official dense formulation against ours. ``gpu`` checks
correctness and times everything on a GPU in one call (see :mod:`aot.bench.gpu_suite`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import torch

from aot.bench import run_benchmark, run_local_attention, variant_line
from aot.config import VARIANTS
from aot.precision import PRECISIONS


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aot.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="propagation",
                        choices=["propagation", "local-attention", "gpu"])
    parser.add_argument("--variant", default="deaott", choices=sorted(VARIANTS))
    parser.add_argument("--size", type=_size, default=(480, 854), help="HxW, e.g. 480x854")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--videos", type=int, default=1,
                        help="clips stepped together as one batch (aot.step_together)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", help="official checkpoint (default: synthetic weights)")
    parser.add_argument("--max-long-term", type=int)
    parser.add_argument("--long-term-gap", type=int)
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--out", help="gpu suite: folder for results.json (default $OUT)")
    parser.add_argument("--quick", action="store_true", help="gpu suite: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.suite == "gpu":
        from aot.bench.gpu_suite import run_gpu_suite

        device = args.device if args.device != "cpu" or args.quick else "cuda"
        results = run_gpu_suite(device, args.out, quick=args.quick)
        print(json.dumps(results["summary"], indent=1))
        return 0 if results["summary"]["correct"] else 1
    if args.suite == "local-attention":
        result = run_local_attention(args.device)
        print(json.dumps(result) if args.json else
              f"15x15 local attention, {result['tokens']} tokens, {result['value_dim']}-channel "
              f"values on {args.device}: dense (official) {result['dense_ms']:.1f} ms, "
              f"tiled {result['tiled_ms']:.1f} ms, max |diff| {result['max_abs_diff']:.1e}")
        return 0
    result = run_benchmark(args.variant, *args.size, args.objects, args.frames, args.device,
                           args.checkpoint, args.max_long_term, args.long_term_gap,
                           args.precision, videos=args.videos)
    if args.json:
        print(json.dumps(result))
    else:
        memory = (f"peak GPU {result['peak_gpu_mib']:.0f} MiB" if "peak_gpu_mib" in result
                  else f"peak RSS {result['peak_rss_mib']:.0f} MiB")
        per_video = (f" ({result['per_video_frame_ms']:.1f} ms per video-frame)"
                     if args.videos > 1 else "")
        print(f"{variant_line(result)}: median {result['median_ms']:.1f} ms/frame{per_video} "
              f"(first {result['first_ms']:.1f}, last {result['last_ms']:.1f}), {memory}, "
              f"long-term memory {result['long_term_frames']} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
