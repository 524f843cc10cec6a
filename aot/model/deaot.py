"""DeAOT: encoder, identity bank, dual-branch LSTT and FPN decoder in one module.

Attribute names follow the official checkpoint layout, so ``state_dict()`` keys and order
equal the aot-benchmark release files.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aot.config import DeAOTConfig
from aot.encoders import build_encoder
from aot.model.decoder import FPNDecoder
from aot.model.propagation import DualBranchPropagation, LayerMemory, LayerTokens


@dataclass(frozen=True)
class EncodedFrame:
    """Encoder output of a batch of frames.

    Attributes:
        shortcuts: features at strides 4, 8 and 16, each (B, C_i, H_i, W_i).
        tokens: (B, L, C) projected stride-16 features, L = h * w.
        size: the stride-16 grid (h, w).
    """

    shortcuts: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    tokens: torch.Tensor
    size: tuple[int, int]


class DeAOT(nn.Module):
    """The DeAOT network for one :class:`~aot.config.DeAOTConfig`."""

    def __init__(self, config: DeAOTConfig) -> None:
        super().__init__()
        self.config = config
        dims = config.encoder_dims
        self.encoder = build_encoder(config.encoder)
        self.encoder_projector = nn.Conv2d(dims[3], config.model_dim, kernel_size=1)
        self.LSTT = DualBranchPropagation(config)
        self.decoder = FPNDecoder(2 * config.model_dim, config.max_objects + 1, config.model_dim,
                                  dims, config.align_corners)
        if config.align_corners:
            self.patch_wise_id_bank = nn.Conv2d(config.max_objects + 1, config.model_dim,
                                                kernel_size=17, stride=16, padding=8)
        else:
            self.patch_wise_id_bank = nn.Conv2d(config.max_objects + 1, config.model_dim,
                                                kernel_size=16, stride=16)
        self.id_norm = nn.LayerNorm(config.model_dim)
        # Convolutions run channels-last: faster on CPU (oneDNN) and GPU (tensor cores), and
        # (B, L, C) tokens are then views of the feature maps, not copies.
        self.to(memory_format=torch.channels_last)

    def encode_image(self, image: torch.Tensor) -> EncodedFrame:
        """(B, 3, H, W) normalised images -> :class:`EncodedFrame`."""
        x4, x8, x16, deepest = self.encoder(image.contiguous(memory_format=torch.channels_last))
        projected = self.encoder_projector(deepest)
        b, c, h, w = projected.shape
        tokens = projected.permute(0, 2, 3, 1).reshape(b, h * w, c)
        return EncodedFrame((x4, x8, x16), tokens, (h, w))

    def identity_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        """(B, max_objects + 1, H, W) one-hot labels -> (B, L, C) identity embedding."""
        emb = self.patch_wise_id_bank(one_hot.contiguous(memory_format=torch.channels_last))
        return self.id_norm(emb.permute(0, 2, 3, 1).flatten(1, 2))

    def propagate(self, frame: EncodedFrame, memories: list[LayerMemory] | None = None,
                  id_emb: torch.Tensor | None = None, attention_dtype: torch.dtype | None = None
                  ) -> tuple[torch.Tensor, list[LayerTokens], list[torch.Tensor] | None]:
        """Run the LSTT on a frame; see :meth:`DualBranchPropagation.forward`."""
        return self.LSTT(frame.tokens, frame.size, memories, id_emb, attention_dtype)

    def decode(self, output: torch.Tensor, frame: EncodedFrame) -> torch.Tensor:
        """(B, L, 2C) LSTT output -> (B, max_objects + 1, H/4, W/4) identity logits."""
        b, _, c = output.shape
        h, w = frame.size
        grid = output.view(b, h, w, c).permute(0, 3, 1, 2)
        return self.decoder(grid, list(frame.shortcuts))

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, H, W) integer labels in 0..max_objects -> (B, max_objects + 1, H, W) float."""
        ids = torch.arange(self.config.max_objects + 1, device=labels.device)
        return (labels.unsqueeze(-1) == ids).float().permute(0, 3, 1, 2)

    def upsample_logits(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinear resize of (B, K, h, w) logits to ``size`` with the variant's corners."""
        return F.interpolate(logits, size=size, mode="bilinear",
                             align_corners=self.config.align_corners)
