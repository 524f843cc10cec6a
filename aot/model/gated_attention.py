"""Gated propagation: attention whose output is gated by U, then a depthwise 5x5
convolution and a linear projection (DeAOT's replacement for multi-head attention).

DeAOT runs every attention with a single head of key width ``C/2`` and value width ``4C``
(the visual and identity branches of width ``2C`` side by side). All token tensors are
batch-first, ``(B, L, C)`` with ``L = h * w`` in row-major order, which is exactly the
channels-last memory layout of a ``(B, C, h, w)`` map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aot.model.local_attention import local_window_attention


class DepthwiseConv(nn.Module):
    """5x5 depthwise convolution over tokens laid out on the (h, w) grid (key ``conv``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)

    def forward(self, tokens: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, L, C) -> (B, L, C)."""
        b, _, c = tokens.shape
        grid = tokens.view(b, size[0], size[1], c).permute(0, 3, 1, 2)
        return self.conv(grid).permute(0, 2, 3, 1).reshape(b, -1, c)


#: On CUDA, values are split into heads of this width that share the query and key, so that
#: fused attention kernels (which cap the value width) apply; the result is the same.
VALUE_HEAD = 128


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """Softmax attention with one query/key head and wide values.

    Args:
        query: (B, L, Ck), already scaled by 1 / sqrt(Ck).
        key: (B, M, Ck).
        value: (B, M, Cv).
        dtype: precision of the two products (default: the inputs'); the softmax is always
            computed in float32.

    Returns:
        (B, L, Cv) in the query's dtype.
    """
    out_dtype = query.dtype
    if dtype is not None:
        query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    if query.is_cuda and value.shape[-1] % VALUE_HEAD == 0:
        return _fused_attention(query, key, value).to(out_dtype)
    scores = torch.bmm(query, key.transpose(1, 2).to(query.dtype))
    weights = scores.softmax(dim=-1, dtype=torch.float32).to(value.dtype)
    return torch.bmm(weights, value).to(out_dtype)


def _fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """:func:`attention` through ``scaled_dot_product_attention``, values split into heads."""
    b, length, _ = query.shape
    heads = value.shape[-1] // VALUE_HEAD
    dtype = value.dtype
    q = query.to(dtype).unsqueeze(1).expand(b, heads, length, -1)
    k = key.to(dtype).unsqueeze(1).expand(b, heads, key.shape[1], -1)
    v = value.view(b, -1, heads, VALUE_HEAD).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    return out.transpose(1, 2).reshape(b, length, -1)


class GatedPropagation(nn.Module):
    """Global gated attention to the long-term memory (no input projections).

    Args:
        key_dim: Ck, width of queries and keys.
        value_dim: Cv, width of the gated values (``4C``).
        out_dim: width after the projection (``2C``: visual and identity halves).
    """

    def __init__(self, key_dim: int, value_dim: int, out_dim: int) -> None:
        super().__init__()
        self.scale = 1.0 / math.sqrt(key_dim)
        self.dw_conv = DepthwiseConv(value_dim)
        self.projection = nn.Linear(value_dim, out_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                gate: torch.Tensor, size: tuple[int, int],
                attention_dtype: torch.dtype | None = None) -> torch.Tensor:
        """query (B, L, Ck), key (B, M, Ck), value (B, M, Cv), gate (B, L, Cv)
        -> (B, L, out_dim); ``attention_dtype``: precision of the attention products."""
        out = attention(query * self.scale, key, value, attention_dtype)
        return self.projection(self.dw_conv(out * gate, size))


class LocalGatedPropagation(nn.Module):
    """Gated attention to the short-term memory within a (2r + 1)^2 window.

    A 1x1 convolution of the (unscaled) query, ``relative_emb_k``, adds one learned score per
    window offset.
    """

    def __init__(self, key_dim: int, value_dim: int, out_dim: int, window: int = 15) -> None:
        super().__init__()
        self.scale = 1.0 / math.sqrt(key_dim)
        self.radius = window // 2
        self.relative_emb_k = nn.Conv2d(key_dim, window * window, kernel_size=1)
        self.dw_conv = DepthwiseConv(value_dim)
        self.projection = nn.Linear(value_dim, out_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                gate: torch.Tensor, size: tuple[int, int],
                attention_dtype: torch.dtype | None = None) -> torch.Tensor:
        """query (B, L, Ck), key (B, L, Ck), value (B, L, Cv), gate (B, L, Cv)
        -> (B, L, out_dim); key and value lie on the same (h, w) grid as the query."""
        weight = self.relative_emb_k.weight.flatten(1)
        relative_bias = F.linear(query, weight, self.relative_emb_k.bias)
        out = local_window_attention(query * self.scale, key, value, relative_bias, size,
                                     radius=self.radius, dtype=attention_dtype)
        return self.projection(self.dw_conv(out * gate, size))


class SelfGatedPropagation(nn.Module):
    """Gated self-attention over the current frame's joint visual and identity tokens.

    Queries and keys share ``linear_QK``; values and gates are projected per branch
    (``linear_V1``/``linear_U1`` for the visual half, ``*2`` for the identity half).
    """

    def __init__(self, in_dim: int, key_dim: int, value_dim: int) -> None:
        super().__init__()
        half_in, half_value = in_dim // 2, value_dim // 2
        self.scale = 1.0 / math.sqrt(key_dim)
        self.linear_QK = nn.Linear(in_dim, key_dim)
        self.linear_V1 = nn.Linear(half_in, half_value)
        self.linear_V2 = nn.Linear(half_in, half_value)
        self.linear_U1 = nn.Linear(half_in, half_value)
        self.linear_U2 = nn.Linear(half_in, half_value)
        self.dw_conv = DepthwiseConv(value_dim)
        self.projection = nn.Linear(value_dim, in_dim)

    def forward(self, tokens: torch.Tensor, size: tuple[int, int],
                attention_dtype: torch.dtype | None = None) -> torch.Tensor:
        """(B, L, in_dim) -> (B, L, in_dim)."""
        visual, identity = tokens.chunk(2, dim=-1)
        qk = self.linear_QK(tokens)
        value = F.silu(torch.cat([self.linear_V1(visual), self.linear_V2(identity)], dim=-1))
        gate = F.silu(torch.cat([self.linear_U1(visual), self.linear_U2(identity)], dim=-1))
        out = attention(qk * self.scale, qk, value, attention_dtype)
        return self.projection(self.dw_conv(out * gate, size))
