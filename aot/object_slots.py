"""The user's object ids: label maps checked, and mapped to DeAOT's identity slots and back.

DeAOT tells objects apart by identity slots 1..N of its identification bank. A user's ids
need not be dense (a mask may hold ids 1, 3 and 7, or 255 alone), and a network trained on
few objects knows only its first slots well. So every object gets the next free slot when
it first appears, in the order objects appear (ascending id within one mask): the network
sees ids 1..N whatever the user chose, the compute follows N, not the largest id, and the
reported labels hold exactly the user's ids. For ids 1..N given in order (as the official
evaluation gives them) the mapping is the identity.
"""

from __future__ import annotations

import numpy as np
import torch

#: The largest object id; a uint8 label map holds ids 0..255, 0 being the background.
MAX_OBJECT_ID = 255
NUM_IDS = MAX_OBJECT_ID + 1


def check_labels(mask: np.ndarray, frame_size: tuple[int, int]) -> torch.Tensor:
    """Validate an (H, W) integer label map of a (H, W) frame; return it as uint8.

    Raises:
        ValueError: not a 2-D integer array of the frame's size with ids in 0..255.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(f"mask must be an (H, W) array, got shape "
                         f"{getattr(mask, 'shape', None)}")
    if tuple(mask.shape) != tuple(frame_size):
        raise ValueError(f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the "
                         f"frame size {frame_size[1]}x{frame_size[0]}")
    if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != np.bool_:
        raise ValueError(f"mask must hold integer object ids, got {mask.dtype}")
    if mask.size and (mask.min() < 0 or mask.max() > MAX_OBJECT_ID):
        raise ValueError(f"mask ids must lie in 0..{MAX_OBJECT_ID}, got "
                         f"{mask.min()}..{mask.max()}")
    return torch.from_numpy(mask.astype(np.uint8))


class ObjectSlots:
    """Object ids 1..255 <-> identity slots 1..N, slots given out in order of appearance."""

    def __init__(self) -> None:
        self.object_ids: tuple[int, ...] = ()
        self._slot_of_id = torch.zeros(NUM_IDS, dtype=torch.uint8)
        self._id_of_slot = torch.zeros(NUM_IDS, dtype=torch.uint8)
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.object_ids)

    def register(self, labels: torch.Tensor) -> None:
        """Give the ids in (H, W) uint8 ``labels`` that have no slot the next free slots."""
        present = torch.unique(labels).tolist()
        new = [int(i) for i in present if i and not self._slot_of_id[i]]
        if not new:
            return
        for object_id in new:
            slot = len(self.object_ids) + 1
            self.object_ids += (object_id,)
            self._slot_of_id[object_id] = slot
            self._id_of_slot[slot] = object_id
        self._on_device.clear()

    def to_slots(self, labels: torch.Tensor) -> torch.Tensor:
        """(H, W) uint8 object ids -> (H, W) uint8 slots (0 stays 0; unregistered ids -> 0)."""
        return self._tables(labels.device)[0][labels.long()]

    def to_ids(self, slots: torch.Tensor) -> torch.Tensor:
        """(H, W) uint8 slots -> (H, W) uint8 object ids, on the slots' device."""
        return self._tables(slots.device)[1][slots.long()]

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on_device:
            self._on_device[device] = (self._slot_of_id.to(device), self._id_of_slot.to(device))
        return self._on_device[device]
