"""The long short-term transformer of DeAOT: gated propagation layers with two branches.

Each layer carries a visual branch (image features) and an identity branch (object
identities) through three propagations, all sharing the visual attention maps:

* long-term: global attention to the long-term memory frames;
* short-term: 15x15 local attention to the previous frame;
* self: global attention within the current frame.

Only the identity branch receives the identity embeddings of memory frames, so the visual
keys stay object-agnostic ("decoupling features in hierarchical propagation").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aot.config import DeAOTConfig
from aot.model.gated_attention import (GatedPropagation, LocalGatedPropagation,
                                       SelfGatedPropagation)


@dataclass(frozen=True)
class LayerMemory:
    """What one LSTT layer attends to, for one batch of frames.

    Attributes:
        long_key: (B, M, Ck) keys of all long-term memory frames (M = frames * L).
        long_value: (B, M, 4C) visual and identity values of those frames.
        short_key: (B, L, Ck) keys of the short-term (previous) frame.
        short_value: (B, L, 4C) values of the short-term frame.
    """

    long_key: torch.Tensor
    long_value: torch.Tensor
    short_key: torch.Tensor
    short_value: torch.Tensor


@dataclass(frozen=True)
class LayerTokens:
    """What one LSTT layer computed for the current frame, before its identities are known.

    Attributes:
        key: (B, L, Ck) visual keys (also the queries).
        value: (B, L, 2C) visual values.
        identity_input: (B, L, C) normalised identity branch entering the layer, ``None``
            in the first layer. It is fused with the identity embedding into the identity
            values once the frame's labels are known.
    """

    key: torch.Tensor
    value: torch.Tensor
    identity_input: torch.Tensor | None


class TokenGroupNorm(nn.Module):
    """GroupNorm over token sequences (B, L, C) (parameters in ``gn``)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, C) -> (B, L, C)."""
        b, length, c = tokens.shape
        groups = self.gn.num_groups
        x = tokens.view(b, length, groups, c // groups)
        var, mean = torch.var_mean(x, dim=(1, 3), keepdim=True, correction=0)
        x = (x - mean) * torch.rsqrt(var + self.gn.eps)
        return x.view(b, length, c) * self.gn.weight + self.gn.bias


class GatedPropagationLayer(nn.Module):
    """One dual-branch LSTT layer (official key names)."""

    def __init__(self, dim: int, layer_index: int, window: int) -> None:
        super().__init__()
        self.dim = dim
        self.key_dim = dim // 2
        self.norm1 = nn.LayerNorm(dim)
        self.linear_QV = nn.Linear(dim, self.key_dim + 2 * dim)
        self.linear_U = nn.Linear(dim, 2 * dim)
        if layer_index == 0:
            self.linear_ID_V = nn.Linear(dim, 2 * dim)
        else:
            self.id_norm1 = nn.LayerNorm(dim)
            self.linear_ID_V = nn.Linear(2 * dim, 2 * dim)
            self.linear_ID_U = nn.Linear(dim, 2 * dim)
        self.long_term_attn = GatedPropagation(self.key_dim, 4 * dim, 2 * dim)
        self.short_term_attn = LocalGatedPropagation(self.key_dim, 4 * dim, 2 * dim, window)
        self.norm2 = nn.LayerNorm(dim)
        self.id_norm2 = nn.LayerNorm(dim)
        self.self_attn = SelfGatedPropagation(2 * dim, self.key_dim, 4 * dim)

    def identity_value(self, identity_input: torch.Tensor | None,
                       id_emb: torch.Tensor) -> torch.Tensor:
        """Identity values of a frame: (B, L, C) inputs and embeddings -> (B, L, 2C)."""
        if identity_input is None:
            return F.silu(self.linear_ID_V(id_emb))
        return F.silu(self.linear_ID_V(torch.cat([identity_input, id_emb], dim=-1)))

    def memory_value(self, tokens: LayerTokens, id_emb: torch.Tensor) -> torch.Tensor:
        """(B, L, 4C) memory values of a frame: visual values next to identity values."""
        return torch.cat([tokens.value, self.identity_value(tokens.identity_input, id_emb)], -1)

    def forward(self, visual: torch.Tensor, identity: torch.Tensor | None,
                size: tuple[int, int], memory: LayerMemory | None = None,
                id_emb: torch.Tensor | None = None, attention_dtype: torch.dtype | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, LayerTokens, torch.Tensor | None]:
        """Propagate one frame.

        Args:
            visual: (B, L, C) visual branch.
            identity: (B, L, C) identity branch, ``None`` entering the first layer.
            size: token grid (h, w), L = h * w.
            memory: the memories to attend to (propagation mode), or
            id_emb: (B, L, C) identity embedding of this frame's labels (reference mode:
                the frame attends to itself).
            attention_dtype: precision of the attention products (default: the inputs').

        Returns:
            visual (B, L, C), identity (B, L, C), this frame's :class:`LayerTokens`, and in
            reference mode its (B, L, 4C) memory values (else ``None``).
        """
        x = self.norm1(visual)
        qv = self.linear_QV(x)
        key, value = qv[..., :self.key_dim], F.silu(qv[..., self.key_dim:])
        u = self.linear_U(x)
        if identity is None:
            identity_input = None
            gate = torch.cat([F.silu(u), torch.ones_like(u)], dim=-1)
        else:
            identity_input = self.id_norm1(identity)
            gate = F.silu(torch.cat([u, self.linear_ID_U(identity_input)], dim=-1))
        tokens = LayerTokens(key, value, identity_input)

        reference_value = None
        if id_emb is not None:
            reference_value = self.memory_value(tokens, id_emb)
            memory = LayerMemory(key, reference_value, key, reference_value)
        assert memory is not None, "either memory or id_emb is required"

        out = (self.long_term_attn(key, memory.long_key, memory.long_value, gate, size,
                                   attention_dtype)
               + self.short_term_attn(key, memory.short_key, memory.short_value, gate, size,
                                      attention_dtype))
        visual = visual + out[..., :self.dim]
        identity = out[..., self.dim:] if identity is None else identity + out[..., self.dim:]

        joint = torch.cat([self.norm2(visual), self.id_norm2(identity)], dim=-1)
        out = self.self_attn(joint, size, attention_dtype)
        return visual + out[..., :self.dim], identity + out[..., self.dim:], tokens, reference_value


class DualBranchPropagation(nn.Module):
    """The stack of gated propagation layers and the norm of its joint output."""

    def __init__(self, config: DeAOTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            GatedPropagationLayer(config.model_dim, i, config.local_window)
            for i in range(config.num_layers))
        self.decoder_norms = nn.ModuleList([TokenGroupNorm(2 * config.model_dim, groups=2)])

    def forward(self, tokens: torch.Tensor, size: tuple[int, int],
                memories: list[LayerMemory] | None = None, id_emb: torch.Tensor | None = None,
                attention_dtype: torch.dtype | None = None
                ) -> tuple[torch.Tensor, list[LayerTokens], list[torch.Tensor] | None]:
        """Propagate one frame through all layers.

        Args:
            tokens: (B, L, C) projected encoder features.
            size: token grid (h, w).
            memories: one :class:`LayerMemory` per layer (propagation mode), or
            id_emb: (B, L, C) identity embedding of the frame's labels (reference mode).
            attention_dtype: precision of the attention products (default: the inputs').

        Returns:
            the normalised joint output (B, L, 2C), the per-layer :class:`LayerTokens`, and
            in reference mode the per-layer (B, L, 4C) memory values (else ``None``).
        """
        visual, identity = tokens, None
        layer_tokens, reference_values = [], []
        for i, layer in enumerate(self.layers):
            memory = None if memories is None else memories[i]
            visual, identity, frame_tokens, value = layer(visual, identity, size, memory, id_emb,
                                                          attention_dtype)
            layer_tokens.append(frame_tokens)
            reference_values.append(value)
        output = self.decoder_norms[-1](torch.cat([visual, identity], dim=-1))
        return output, layer_tokens, reference_values if id_emb is not None else None
