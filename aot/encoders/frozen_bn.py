"""Batch normalisation with frozen statistics, as every released DeAOT encoder uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """``(x - running_mean) / sqrt(running_var + eps) * weight + bias`` with fixed buffers.

    The four tensors are buffers, so checkpoints carry them without ``num_batches_tracked``.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape (B, C, H, W)."""
        if x.requires_grad:
            scale, shift = self.scale_and_shift()
            return x * scale.view(1, -1, 1, 1).to(x.dtype) + shift.view(1, -1, 1, 1).to(x.dtype)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def scale_and_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``(scale, shift)`` such that ``forward(x) == x * scale + shift``."""
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        return scale, self.bias - self.running_mean * scale


def conv_bn(x: torch.Tensor, conv: nn.Conv2d, bn: FrozenBatchNorm2d) -> torch.Tensor:
    """``bn(conv(x))`` as one convolution with the normalisation folded into its weights.

    Equal to the two-step form up to float rounding, one pass over the activations instead
    of two, and differentiable with respect to the convolution's parameters.
    """
    scale, shift = bn.scale_and_shift()
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
