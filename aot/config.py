"""DeAOT model configurations: the six released variants and reduced ones for tests.

A configuration fixes the architecture (and therefore the checkpoint layout) plus the
evaluation default of the long-term memory gap. Values follow the DeAOT paper and the
aot-benchmark model configs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

EncoderName = Literal["mobilenetv2", "resnet50", "swin_base"]

#: Feature channels each encoder returns at strides 4, 8, 16 and the 16x feature fed to the
#: LSTT (before ``encoder_projector``).
ENCODER_DIMS: dict[str, tuple[int, int, int, int]] = {
    "mobilenetv2": (24, 32, 96, 1280),
    "resnet50": (256, 512, 1024, 1024),
    "swin_base": (128, 256, 512, 512),
}


@dataclass(frozen=True)
class DeAOTConfig:
    """Architecture of one DeAOT variant.

    Attributes:
        name: variant name, e.g. ``"r50_deaotl"``.
        encoder: image encoder family.
        num_layers: number of gated propagation (LSTT) layers.
        align_corners: ``True`` for the MobileNetV2/ResNet variants (inputs of size 16k+1,
            17x17 identity patches), ``False`` for Swin (inputs of size 16k, 16x16 patches).
        long_term_gap: default evaluation gap between frames added to long-term memory.
        model_dim: width C of the visual and identity branches (256 in every release).
        max_objects: identities one network pass holds (10), background excluded.
        local_window: side of the short-term attention window (15).
    """

    name: str
    encoder: EncoderName
    num_layers: int
    align_corners: bool
    long_term_gap: int
    model_dim: int = 256
    max_objects: int = 10
    local_window: int = 15

    @property
    def encoder_dims(self) -> tuple[int, int, int, int]:
        """Channels of the encoder features at strides 4, 8, 16 and the LSTT input."""
        return ENCODER_DIMS[self.encoder]

    @property
    def attention_dim(self) -> int:
        """Key/query width of every attention (one head of ``model_dim // 2``)."""
        return self.model_dim // 2

    @property
    def value_dim(self) -> int:
        """Width of one branch's attention values (``2 * model_dim``)."""
        return 2 * self.model_dim

    @property
    def stride(self) -> int:
        """Output stride of the encoder's deepest feature."""
        return 16

    def with_gap(self, long_term_gap: int) -> "DeAOTConfig":
        """A copy with another default long-term gap."""
        return replace(self, long_term_gap=long_term_gap)


VARIANTS: dict[str, DeAOTConfig] = {
    "deaott": DeAOTConfig("deaott", "mobilenetv2", 1, True, 9999),
    "deaots": DeAOTConfig("deaots", "mobilenetv2", 2, True, 9999),
    "deaotb": DeAOTConfig("deaotb", "mobilenetv2", 3, True, 9999),
    "deaotl": DeAOTConfig("deaotl", "mobilenetv2", 3, True, 5),
    "r50_deaotl": DeAOTConfig("r50_deaotl", "resnet50", 3, True, 5),
    "swinb_deaotl": DeAOTConfig("swinb_deaotl", "swin_base", 3, False, 5),
}
