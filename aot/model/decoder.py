"""FPN segmentation head: LSTT output at stride 16 -> identity logits at stride 4."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvGN(nn.Module):
    """Convolution ('same' padding) followed by GroupNorm with 8 groups."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)
        self.gn = nn.GroupNorm(8, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, out_ch, H, W)."""
        return self.gn(self.conv(x))


class FPNDecoder(nn.Module):
    """Fuses the LSTT output with encoder shortcuts at strides 16, 8 and 4.

    Args:
        in_dim: channels of the LSTT output (2C).
        out_dim: identity channels (max objects + background).
        hidden_dim: C.
        shortcut_dims: encoder channels at strides 4, 8, 16 (and the LSTT input, unused).
        align_corners: bilinear upsampling convention of the variant.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int,
                 shortcut_dims: tuple[int, ...], align_corners: bool) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.conv_in = ConvGN(in_dim, hidden_dim, 1)
        self.conv_16x = ConvGN(hidden_dim, hidden_dim, 3)
        self.conv_8x = ConvGN(hidden_dim, hidden_dim // 2, 3)
        self.conv_4x = ConvGN(hidden_dim // 2, hidden_dim // 2, 3)
        self.adapter_16x = nn.Conv2d(shortcut_dims[2], hidden_dim, 1)
        self.adapter_8x = nn.Conv2d(shortcut_dims[1], hidden_dim, 1)
        self.adapter_4x = nn.Conv2d(shortcut_dims[0], hidden_dim // 2, 1)
        self.conv_out = nn.Conv2d(hidden_dim // 2, out_dim, 1)

    def _upsample(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear",
                             align_corners=self.align_corners)

    def forward(self, x: torch.Tensor, shortcuts: list[torch.Tensor]) -> torch.Tensor:
        """x: (B, in_dim, h, w) at stride 16; shortcuts: encoder features at strides 4, 8, 16
        -> logits (B, out_dim, H/4, W/4)."""
        x4, x8, x16 = shortcuts[0], shortcuts[1], shortcuts[2]
        x = F.relu(self.conv_in(x))
        x = F.relu(self.conv_16x(self.adapter_16x(x16) + x))
        x = F.relu(self.conv_8x(self.adapter_8x(x8) + self._upsample(x, x8)))
        x = F.relu(self.conv_4x(self.adapter_4x(x4) + self._upsample(x, x4)))
        return self.conv_out(x)
