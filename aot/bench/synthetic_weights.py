"""Deterministic synthetic weights in the official layout, for tests and benchmarks.

Implements the recipe of the DeAOT reference data (``shared/reference/deaot/README.md``,
section 2): one legacy ``numpy.random.RandomState(seed)`` stream consumed entry by entry in
state-dict order, with a draw rule chosen by key. The weights keep every activation finite
and give soft but informative predictions, so they exercise the whole network the way
trained weights do without being trained.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import torch

Layout = Iterable[tuple[str, tuple[int, ...], str]]


def _gain(key: str) -> float:
    if "linear_QV" in key or "linear_QK" in key:
        return 2.0
    if "decoder.adapter_" in key:
        return 0.3
    if "decoder.conv_out" in key:
        return 3.0
    return 1.0


def _draw(rs: np.random.RandomState, key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key.endswith("running_var"):
        return rs.uniform(0.5, 1.5, size=shape)
    if key.endswith("running_mean"):
        return rs.normal(0.0, 0.1, size=shape)
    if key.endswith("relative_position_bias_table"):
        return rs.normal(0.0, 0.02, size=shape)
    if len(shape) == 1 and key.endswith(".weight"):
        return rs.uniform(0.8, 1.2, size=shape)
    if key.endswith(".bias"):
        return rs.normal(0.0, 0.02, size=shape)
    if key == "patch_wise_id_bank.weight":
        per_pair = rs.normal(0.0, 1.0 / math.sqrt(shape[1]), size=(shape[0], shape[1], 1, 1))
        return np.broadcast_to(per_pair, shape)
    fan_in = int(np.prod(shape[1:]))
    return rs.normal(0.0, _gain(key) / math.sqrt(fan_in), size=shape)


def synthetic_state_dict(layout: Layout, seed: int,
                         integer_entries: Mapping[str, np.ndarray] | None = None
                         ) -> dict[str, np.ndarray]:
    """Weights for ``layout`` = [(key, shape, dtype), ...] in state-dict order.

    Integer entries are not drawn; they are taken from ``integer_entries``.
    """
    rs = np.random.RandomState(seed)
    state = {}
    for key, shape, dtype in layout:
        if dtype != "float32":
            if integer_entries is None or key not in integer_entries:
                raise KeyError(f"no value given for integer entry {key}")
            state[key] = np.asarray(integer_entries[key])
            continue
        state[key] = np.ascontiguousarray(_draw(rs, key, tuple(shape))).astype(np.float32)
    return state


def synthetic_model_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Synthetic weights for ``model``, integer buffers kept as the model computed them."""
    reference = model.state_dict()
    layout = [(k, tuple(v.shape), "float32" if v.is_floating_point() else str(v.dtype))
              for k, v in reference.items()]
    integers = {k: v.numpy() for k, v in reference.items() if not v.is_floating_point()}
    state = synthetic_state_dict(layout, seed, integers)
    return {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
