"""ResNet-50 encoder truncated after ``layer3`` (R50-DeAOT-L), stride 16."""

from __future__ import annotations

import torch
from torch import nn

import torch.nn.functional as F

from aot.encoders.frozen_bn import FrozenBatchNorm2d, conv_bn


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand (x4), with a projected shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, 4 * planes, H / stride, W / stride)."""
        identity = x
        if self.downsample is not None:
            identity = conv_bn(x, self.downsample[0], self.downsample[1])
        out = F.relu(conv_bn(x, self.conv1, self.bn1))
        out = F.relu(conv_bn(out, self.conv2, self.bn2))
        return F.relu(conv_bn(out, self.conv3, self.bn3) + identity)


def _make_stage(in_ch: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_ch != planes * 4:
        downsample = nn.Sequential(nn.Conv2d(in_ch, planes * 4, 1, stride, bias=False),
                                   FrozenBatchNorm2d(planes * 4))
    layers = [Bottleneck(in_ch, planes, stride, downsample)]
    layers += [Bottleneck(planes * 4, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet50Encoder(nn.Module):
    """Stem and stages 1-3 of ResNet-50; the stride-16 feature is returned twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _make_stage(64, 64, 3, 1)
        self.layer2 = _make_stage(256, 128, 4, 2)
        self.layer3 = _make_stage(512, 256, 6, 2)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [(B, 256, H/4, W/4), (B, 512, H/8, W/8), (B, 1024, H/16, W/16) x 2]."""
        x = self.maxpool(F.relu(conv_bn(image, self.conv1, self.bn1)))
        x4 = self.layer1(x)
        x8 = self.layer2(x4)
        x16 = self.layer3(x8)
        return [x4, x8, x16, x16]
