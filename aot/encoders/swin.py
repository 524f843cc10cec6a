"""Swin-B encoder (SwinB-DeAOT-L): patch embedding and the first three stages.

Stages have depths 2, 2, 18 with 4, 8, 16 heads, 7x7 windows and shifted windows in every
second block. Outputs are normalised by ``norm0..norm2``; the stride-16 feature is returned
twice (decoder shortcut and LSTT input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = 7
_DEPTHS = (2, 2, 18)
_HEADS = (4, 8, 16)
_EMBED_DIM = 128


def relative_position_index(window: int) -> torch.Tensor:
    """(window^2, window^2) int64 index into the (2 window - 1)^2 bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def partition_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` -> (B * nW, window^2, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def merge_windows(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: (B * nW, window^2, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def shifted_window_mask(h_pad: int, w_pad: int, window: int, shift: int,
                        device: torch.device) -> torch.Tensor:
    """(nW, window^2, window^2) additive mask: -100 between tokens of different regions."""
    regions = torch.zeros((1, h_pad, w_pad, 1), device=device)
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in bounds:
        for ws in bounds:
            regions[:, hs, ws, :] = label
            label += 1
    ids = partition_windows(regions, window).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative-position bias."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * WINDOW - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(WINDOW))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B * nW, N, C) windows; mask: (nW, N, N) or None -> (B * nW, N, C)."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(bw, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    """Two linear layers with GELU, hidden width 4x."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., C)."""
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention and MLP, both residual."""

    def __init__(self, dim: int, heads: int, shift: int) -> None:
        super().__init__()
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int],
                mask: torch.Tensor) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C); ``mask`` is used by shifted blocks only."""
        h, w = size
        b, _, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        y = F.pad(y, (0, 0, 0, (-w) % WINDOW, 0, (-h) % WINDOW))
        h_pad, w_pad = y.shape[1:3]
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(partition_windows(y, WINDOW), mask if self.shift else None)
        y = merge_windows(y, WINDOW, h_pad, w_pad)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y[:, :h, :w, :].reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation, LayerNorm and a linear 4C -> 2C reduction."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, H * W, C) -> (B, ceil(H/2) * ceil(W/2), 2C)."""
        h, w = size
        b, _, c = x.shape
        x = F.pad(x.view(b, h, w, c), (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """A run of Swin blocks, optionally followed by patch merging."""

    def __init__(self, dim: int, depth: int, heads: int, downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, heads, 0 if i % 2 == 0 else WINDOW // 2) for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, H * W, C) -> (B, H * W, C), before downsampling."""
        h_pad = -(-size[0] // WINDOW) * WINDOW
        w_pad = -(-size[1] // WINDOW) * WINDOW
        mask = shifted_window_mask(h_pad, w_pad, WINDOW, WINDOW // 2, x.device).to(x.dtype)
        for block in self.blocks:
            x = block(x, size, mask)
        return x


class PatchEmbed(nn.Module):
    """4x4 stride-4 patch projection followed by LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, _EMBED_DIM, 4, 4)
        self.norm = nn.LayerNorm(_EMBED_DIM)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, ceil(H/4), ceil(W/4))."""
        h, w = image.shape[-2:]
        x = self.proj(F.pad(image, (0, (-w) % 4, 0, (-h) % 4)))
        b, c, hp, wp = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x.transpose(1, 2).view(b, c, hp, wp)


class SwinBEncoder(nn.Module):
    """Returns features at strides 4, 8, 16 and 16 with 128, 256, 512 and 512 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed()
        self.layers = nn.ModuleList(
            SwinStage(_EMBED_DIM * 2 ** i, _DEPTHS[i], _HEADS[i], downsample=i < 2)
            for i in range(3))
        for i in range(3):
            self.add_module(f"norm{i}", nn.LayerNorm(_EMBED_DIM * 2 ** i))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [(B, 128, H/4, W/4), (B, 256, H/8, W/8), (B, 512, H/16, W/16) x 2]."""
        x = self.patch_embed(image)
        b, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        outputs = []
        for i, stage in enumerate(self.layers):
            x = stage(x, (h, w))
            out = getattr(self, f"norm{i}")(x)
            outputs.append(out.view(b, h, w, -1).permute(0, 3, 1, 2).contiguous())
            if stage.downsample is not None:
                x = stage.downsample(x, (h, w))
                h, w = (h + 1) // 2, (w + 1) // 2
        outputs.append(outputs[-1])
        return outputs
