"""Reading a weights file safely: ``torch.load`` with ``weights_only=True``, so no code in
the file runs, and one clear error for every way the file can be unusable.

Every weights file ClickTrack reads goes through :func:`load_weights_file` (or
:func:`load_tensor_dict`, for a file that must hold a state dict): DeAOT checkpoints
(:mod:`aot.checkpoint`), Segment Anything and SAM 2.1 checkpoints (:mod:`tracker.sam`,
:mod:`tracker.sam2_segmenter`) and training checkpoints (:mod:`aot.train`).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch


class WeightsFileError(ValueError):
    """A weights file that cannot be read: truncated, corrupt, or holding more than tensors
    and plain containers."""


def load_weights_file(path: str | os.PathLike, mmap: bool = False) -> object:
    """The contents of a weights file, read on the CPU with ``weights_only=True``;
    ``mmap``: map the tensors' storage from the file rather than read it (a cheap look at
    what a large checkpoint holds).

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: the file is truncated, corrupt, or holds more than tensors and
            plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():
            raise WeightsFileError(f"{path}: not a readable PyTorch checkpoint (truncated or "
                                   f"corrupt file?): {str(error).splitlines()[0]}") from error
        raise WeightsFileError(
            f"{path}: holds Python objects other than tensors and plain containers, which "
            "could run code when loaded; ClickTrack reads weights only and refuses it. Use "
            "a file that holds only a state dict (torch.save(model.state_dict(), path))"
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError,
            ValueError, KeyError, AttributeError, IndexError, UnicodeDecodeError) as error:
        raise WeightsFileError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt file?): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from error


def load_tensor_dict(path: str | os.PathLike, key: str | None = None,
                     what: str = "state dict") -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` dict a weights file holds, at its top level or under ``key``,
    read as :func:`load_weights_file` reads it.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: the file is unreadable, or holds no such dict (the message names
            it as ``what``).
    """
    contents = load_weights_file(path)
    if key is not None:
        contents = contents.get(key) if isinstance(contents, dict) else None
    if not isinstance(contents, dict) or not all(isinstance(v, torch.Tensor)
                                                 for v in contents.values()):
        raise WeightsFileError(f"{Path(path).name}: holds no {what}")
    return contents
