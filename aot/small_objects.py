"""Objects too small for the network to resolve are reported, and remembered, as absent.

The decoder predicts at stride 4, so one cell of its output grid covers 4x4 network-input
pixels. A prediction of fewer than a cell or two is a speck: typically what is left of an
object that has just left the frame, or a few pixels of a look-alike. Tracked on, such a
speck goes into the short-term memory and can grow back into a false object. Dropping it
keeps an absent object absent, which is also what the DAVIS measures reward (an object
absent from the ground truth scores J = F = 1 only where nothing is predicted).
"""

from __future__ import annotations

import torch

#: Network-input pixels per side of one decoder output cell.
OUTPUT_STRIDE = 4


def cell_area(frame_size: tuple[int, int], input_size: tuple[int, int]) -> float:
    """Frame pixels covered by one decoder output cell, for a (H, W) frame that enters the
    network at (h, w)."""
    scale = (frame_size[0] * frame_size[1]) / (input_size[0] * input_size[1])
    return OUTPUT_STRIDE ** 2 * scale


def minimum_areas(reference: torch.Tensor, num_ids: int, min_area: float) -> torch.Tensor:
    """(num_ids,) float: the fewest pixels each id must cover to be kept, as a reference
    mask sets them: ``min_area`` for the objects it shows at least that large, 0 (always
    kept) for the background and the others, so that a small object the user marked is
    tracked, not dropped. Take the maximum over a video's references.

    Args:
        reference: (H, W) integer ids of the reference mask, below ``num_ids``.
        num_ids: how many ids the result covers (background included).
        min_area: the threshold in frame pixels.
    """
    counts = torch.bincount(reference.flatten().long(), minlength=num_ids).float()
    areas = torch.where(counts >= min_area, min_area, 0.0)
    areas[0] = 0.0
    return areas


def drop_small_objects(labels: torch.Tensor, log_probs: torch.Tensor,
                       min_areas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Relabel as background every object covering fewer pixels than its minimum area.

    The dropped pixels' probability moves to the background, so the labels stay the
    argmax of the probabilities. Runs on the labels' device without synchronising.

    Args:
        labels: (H, W) uint8 ids, the argmax of ``log_probs``.
        log_probs: (C, H, W) log-probabilities (or logits) over background and ids 1..C-1.
        min_areas: (K,) float for ids 0..K-1, K > every id in ``labels``; see
            :func:`minimum_areas`.

    Returns:
        (H, W) uint8 labels and (C, H, W) log-probabilities (or logits), as given.
    """
    ids = labels.long()
    counts = torch.zeros_like(min_areas).index_add_(
        0, ids.flatten(), torch.ones(ids.numel(), device=labels.device))
    too_small = (counts > 0) & (counts < min_areas)
    dropped = too_small[ids]
    chosen = log_probs.gather(0, ids[None])[0]
    background = torch.where(dropped, torch.logaddexp(log_probs[0], chosen), log_probs[0])
    floor = torch.finfo(log_probs.dtype).min
    cleaned = log_probs.scatter(0, ids[None], torch.where(dropped, floor, chosen)[None])
    cleaned[0] = background
    return torch.where(dropped, 0, labels).to(torch.uint8), cleaned
