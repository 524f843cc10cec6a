"""MobileNetV2 encoder with output stride 16 (DeAOT-T/S/B/L).

The last two inverted-residual stages keep stride 16 and dilate their depthwise convolutions
instead of downsampling, so the deepest 1280-channel feature stays at stride 16.
"""

from __future__ import annotations

import torch
from torch import nn

import torch.nn.functional as F

from aot.encoders.frozen_bn import FrozenBatchNorm2d, conv_bn

#: (expansion t, output channels c, repeats n, stride s) of each stage, as in the paper.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class ConvBNReLU6(nn.Sequential):
    """Convolution without bias, frozen batch norm (keys ``0.*``, ``1.*``), then ReLU6."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1,
                 groups: int = 1, dilation: int = 1) -> None:
        padding = (kernel - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups,
                      bias=False),
            FrozenBatchNorm2d(out_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride)."""
        return F.relu6(conv_bn(x, self[0], self[1]), inplace=True)


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (3x3, maybe dilated), project (1x1); residual if shapes match."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int, expand: int) -> None:
        super().__init__()
        hidden = in_ch * expand
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(in_ch, hidden, kernel=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden, dilation=dilation),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            FrozenBatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride)."""
        out = x
        for layer in self.conv[:-2]:
            out = layer(out)
        out = conv_bn(out, self.conv[-2], self.conv[-1])
        return x + out if self.use_residual else out


class MobileNetV2Encoder(nn.Module):
    """Returns features at strides 4, 8, 16 and 16 with 24, 32, 96 and 1280 channels."""

    def __init__(self, output_stride: int = 16) -> None:
        super().__init__()
        features: list[nn.Module] = [ConvBNReLU6(3, 32, stride=2)]
        current_stride, rate, in_ch = 2, 1, 32
        for expand, out_ch, repeats, stage_stride in _STAGES:
            if current_stride == output_stride:
                stride, first_dilation = 1, rate
                rate *= stage_stride
            else:
                stride, first_dilation = stage_stride, 1
                current_stride *= stage_stride
            for i in range(repeats):
                features.append(InvertedResidual(in_ch, out_ch, stride if i == 0 else 1,
                                                 first_dilation if i == 0 else rate, expand))
                in_ch = out_ch
        features.append(ConvBNReLU6(in_ch, 1280, kernel=1))
        self.features = nn.Sequential(*features)
        self._stage_ends = (4, 7, 14, len(features))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [(B, 24, H/4, W/4), (B, 32, H/8, W/8), (B, 96, H/16, W/16),
        (B, 1280, H/16, W/16)] (sizes rounded up)."""
        outputs = []
        start = 0
        x = image
        for end in self._stage_ends:
            for layer in self.features[start:end]:
                x = layer(x)
            outputs.append(x)
            start = end
        return outputs
