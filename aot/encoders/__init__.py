"""Image encoders of the released DeAOT variants, keyed by :class:`aot.config.DeAOTConfig`."""

from __future__ import annotations

from torch import nn

from aot.encoders.mobilenet_v2 import MobileNetV2Encoder
from aot.encoders.resnet import ResNet50Encoder
from aot.encoders.swin import SwinBEncoder


def build_encoder(name: str) -> nn.Module:
    """The encoder called ``name``; its forward returns features at strides 4, 8, 16, 16."""
    if name == "mobilenetv2":
        return MobileNetV2Encoder()
    if name == "resnet50":
        return ResNet50Encoder()
    if name == "swin_base":
        return SwinBEncoder()
    raise ValueError(f"unknown encoder {name!r}")


__all__ = ["build_encoder", "MobileNetV2Encoder", "ResNet50Encoder", "SwinBEncoder"]
