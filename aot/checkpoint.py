"""Loading official aot-benchmark DeAOT checkpoints.

The release format is ``{"state_dict": {key: tensor}}`` (keys possibly prefixed by
``module.``, extra entries such as ``optimizer`` ignored); a top-level ``"model"`` dict or a
bare state dict is accepted too. Files are read with ``weights_only=True`` and loaded
strictly: every missing, unexpected or mis-shaped entry is reported by name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.weights_file import WeightsFileError, load_weights_file

logger = logging.getLogger(__name__)

_PREFIX = "module."
_LISTED_KEYS = 8


class CheckpointError(WeightsFileError):
    """A file that is not a usable DeAOT checkpoint."""


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED_KEYS])
    return shown + (f" (+{len(keys) - _LISTED_KEYS} more)" if len(keys) > _LISTED_KEYS else "")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a state dict with unprefixed keys.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is truncated, corrupt or holds no state dict.
    """
    try:
        payload = load_weights_file(path)
    except WeightsFileError as error:
        raise CheckpointError(str(error)) from error
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    elif isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        payload = payload["model"]
    if not isinstance(payload, dict) or not payload or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        raise CheckpointError(f"{path}: holds no state dict of tensors "
                              f"(found {type(payload).__name__})")
    state = {}
    for key, value in payload.items():
        state[key[len(_PREFIX):] if key.startswith(_PREFIX) else key] = value
    return state


def infer_variant(state: dict[str, torch.Tensor], filename: str = "") -> str:
    """The variant whose layout ``state`` has.

    DeAOT-B and DeAOT-L share one architecture and differ only in their evaluation memory
    gap; ``filename`` (e.g. ``DeAOTB_PRE_YTB_DAV.pth``) decides between them, else DeAOT-L.

    Raises:
        CheckpointError: the layout matches no variant.
    """
    if "encoder.patch_embed.proj.weight" in state:
        return "swinb_deaotl"
    if "encoder.layer3.0.conv1.weight" in state:
        return "r50_deaotl"
    if "encoder.features.0.0.weight" in state:
        layers = {int(k.split(".")[2]) for k in state if k.startswith("LSTT.layers.")}
        depth = max(layers) + 1 if layers else 0
        if depth == 1:
            return "deaott"
        if depth == 2:
            return "deaots"
        if depth == 3:
            return "deaotb" if "deaotb" in filename.lower() else "deaotl"
    raise CheckpointError("the checkpoint matches no DeAOT variant (expected a MobileNetV2, "
                          "ResNet-50 or Swin-B encoder and an LSTT); keys start with "
                          + _describe(sorted(state)))


def check_state_dict(model: DeAOT, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` naming every missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if not (missing or unexpected or mis_shaped):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_describe(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_describe(unexpected)}")
    if mis_shaped:
        problems.append(f"{len(mis_shaped)} shape mismatches: {_describe(mis_shaped)}")
    hint = ""
    try:
        guess = infer_variant(state, source)
        if guess != model.config.name:
            hint = f"; the file looks like a {guess} checkpoint"
    except CheckpointError:
        pass
    raise CheckpointError(f"{source} does not fit {model.config.name}: "
                          + "; ".join(problems) + hint)


def load_model(path: str | os.PathLike, variant: str | None = None,
               device: str | torch.device = "cpu") -> DeAOT:
    """Build the variant's network and load an official checkpoint into it.

    Args:
        path: checkpoint file.
        variant: one of :data:`aot.VARIANTS`; inferred from the file when ``None``.
        device: where the model lives.

    Returns:
        the model in eval mode, gradients disabled.
    """
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"unknown DeAOT variant {variant!r}; choose one of "
                         + ", ".join(VARIANTS))
    state = read_state_dict(path)
    name = variant or infer_variant(state, Path(path).name)
    model = DeAOT(VARIANTS[name])
    check_state_dict(model, state, str(path))
    model.load_state_dict(state)
    logger.info("loaded %s from %s", name, path)
    model.eval().requires_grad_(False)
    return model.to(device)
