"""Windowed (15x15) attention over the previous frame, computed tile by tile.

The official formulation scatters the 225 window scores of every query into a dense
(HW x HW) matrix and multiplies it with the values, wasting HW / 225 of the work. Here the
queries are cut into square tiles of ``t x t``; every tile attends to its padded
neighbourhood of ``(t + 2r) x (t + 2r)`` keys with one batched matrix product, and scores
outside each query's own window (or outside the image) are masked before the softmax. The
masked scores get exactly zero weight, so the result equals the official one up to float
summation order, with (t + 2r)^2 / (2r + 1)^2 (about 2x for t = 8) instead of HW / 225 of
wasted work.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

#: Additive score of masked window positions (the official code subtracts 1e8).
MASKED_SCORE = -1e8


@lru_cache(maxsize=16)
def _tile_layout(h: int, w: int, tile: int, radius: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and mask tensors for an (h, w) grid cut into ``tile`` x ``tile`` query tiles.

    Returns:
        offset_index: (t*t, R) int64, for query q of a tile and key position p of its
            neighbourhood region, the window offset ``(dy + r) * (2r + 1) + (dx + r)`` or
            ``(2r + 1)^2`` (one past the last offset) when p lies outside q's window.
        outside: (nT, 1, R) float, ``MASKED_SCORE`` where a region position lies outside
            the image, 0 elsewhere.
    """
    side = tile + 2 * radius
    window = 2 * radius + 1
    qy, qx = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    ky, kx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    dy = ky.reshape(1, -1) - qy.reshape(-1, 1)
    dx = kx.reshape(1, -1) - qx.reshape(-1, 1)
    inside = (dy >= 0) & (dy < window) & (dx >= 0) & (dx < window)
    offset_index = torch.where(inside, dy * window + dx, window * window)

    tiles_y, tiles_x = -(-h // tile), -(-w // tile)
    rows = torch.arange(tiles_y).view(-1, 1, 1, 1) * tile + ky.view(1, 1, side, side) - radius
    cols = torch.arange(tiles_x).view(1, -1, 1, 1) * tile + kx.view(1, 1, side, side) - radius
    valid = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    outside = torch.where(valid, 0.0, MASKED_SCORE).view(tiles_y * tiles_x, 1, side * side)
    return offset_index.to(device), outside.to(device)


def _regions(x: torch.Tensor, tile: int, radius: int, tiles: tuple[int, int]) -> torch.Tensor:
    """(B, h, w, C) -> (B, nT, (t + 2r)^2, C): every tile's zero-padded neighbourhood."""
    b, h, w, c = x.shape
    tiles_y, tiles_x = tiles
    pad_h = tiles_y * tile + 2 * radius - h - radius
    pad_w = tiles_x * tile + 2 * radius - w - radius
    x = F.pad(x, (0, 0, radius, pad_w, radius, pad_h))
    side = tile + 2 * radius
    x = x.unfold(1, side, tile).unfold(2, side, tile)  # (B, nTy, nTx, C, side, side)
    return x.permute(0, 1, 2, 4, 5, 3).reshape(b, tiles_y * tiles_x, side * side, c)


def _query_tiles(x: torch.Tensor, tile: int, tiles: tuple[int, int]) -> torch.Tensor:
    """(B, h, w, C) -> (B, nT, t*t, C), zero-padding the grid to whole tiles."""
    b, h, w, c = x.shape
    tiles_y, tiles_x = tiles
    x = F.pad(x, (0, 0, 0, tiles_x * tile - w, 0, tiles_y * tile - h))
    x = x.view(b, tiles_y, tile, tiles_x, tile, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, tiles_y * tiles_x, tile * tile, c)


def _untile(x: torch.Tensor, tile: int, tiles: tuple[int, int], h: int, w: int) -> torch.Tensor:
    """(B, nT, t*t, C) -> (B, h*w, C), dropping the padding of :func:`_query_tiles`."""
    b, _, _, c = x.shape
    tiles_y, tiles_x = tiles
    x = x.view(b, tiles_y, tiles_x, tile, tile, c).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, tiles_y * tile, tiles_x * tile, c)[:, :h, :w]
    return x.reshape(b, h * w, c)


def local_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           relative_bias: torch.Tensor, size: tuple[int, int],
                           radius: int = 7, tile: int = 8,
                           dtype: torch.dtype | None = None) -> torch.Tensor:
    """Softmax attention of every token to the (2r + 1)^2 keys around it.

    Args:
        query: (B, L, Ck) queries, already scaled by 1 / sqrt(Ck); L = h * w row-major.
        key: (B, L, Ck) keys of the memory frame (same grid).
        value: (B, L, Cv) values of the memory frame.
        relative_bias: (B, L, (2r + 1)^2) score added per window offset, in the order
            ``(dy + r) * (2r + 1) + (dx + r)``.
        size: the grid (h, w).
        radius: window radius r (7 for a 15x15 window).
        tile: side of the query tiles.
        dtype: precision of the two products (default: the inputs'); the scores' bias and
            the softmax stay float32.

    Returns:
        (B, L, Cv) attended values in the query's dtype. Window positions outside the image
        get zero weight.
    """
    h, w = size
    out_dtype = query.dtype
    relative_bias = relative_bias.float()  # holds MASKED_SCORE, beyond float16's range
    if dtype is not None:
        query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    b = query.shape[0]
    tiles = (-(-h // tile), -(-w // tile))
    offset_index, outside = _tile_layout(h, w, tile, radius, query.device)

    q = _query_tiles(query.view(b, h, w, -1), tile, tiles)
    k = _regions(key.view(b, h, w, -1), tile, radius, tiles)
    v = _regions(value.view(b, h, w, -1), tile, radius, tiles)
    bias = _query_tiles(relative_bias.reshape(b, h, w, -1), tile, tiles)
    bias = F.pad(bias, (0, 1), value=MASKED_SCORE)
    index = offset_index.expand(b, bias.shape[1], -1, -1)
    bias = torch.gather(bias, 3, index) + outside.to(bias.dtype)

    scores = torch.bmm(q.flatten(0, 1), k.flatten(0, 1).transpose(1, 2).to(q.dtype))
    scores = scores.float() + bias.flatten(0, 1)
    attn = scores.softmax(dim=-1).to(v.dtype)
    out = torch.bmm(attn, v.flatten(0, 1)).view(b, -1, tile * tile, v.shape[-1])
    return _untile(out, tile, tiles, h, w).to(out_dtype)


def dense_window_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           relative_bias: torch.Tensor, size: tuple[int, int],
                           radius: int = 7) -> torch.Tensor:
    """The official formulation of :func:`local_window_attention` (same arguments).

    Window scores come from unfolding the keys; after the softmax they are scattered into a
    dense (L x L) attention matrix that multiplies all values. Kept as the reference that
    tests and ``python -m aot.bench --suite local-attention`` compare against.
    """
    h, w = size
    b, length, key_dim = query.shape
    window = 2 * radius + 1
    keys = key.transpose(1, 2).reshape(b, key_dim, h, w)
    unfolded = F.unfold(F.pad(keys, (radius,) * 4), window).view(b, key_dim, window ** 2, length)
    scores = (query.transpose(1, 2).unsqueeze(2) * unfolded).sum(dim=1)
    inside = F.unfold(F.pad(query.new_ones(1, 1, h, w), (radius,) * 4), window).view(
        1, window ** 2, length)
    scores = scores + relative_bias.transpose(1, 2) + (1 - inside) * MASKED_SCORE
    local = scores.softmax(dim=1)  # (B, window^2, L)

    pad_h, pad_w = h + 2 * radius, w + 2 * radius
    qy, qx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ky, kx = torch.meshgrid(torch.arange(pad_h), torch.arange(pad_w), indexing="ij")
    near = ((qy.reshape(-1, 1) - ky.reshape(1, -1) + radius).abs() <= radius) & (
        (qx.reshape(-1, 1) - kx.reshape(1, -1) + radius).abs() <= radius)
    dense = query.new_zeros(b, length, pad_h * pad_w)
    dense[near.view(1, length, -1).expand(b, -1, -1).to(query.device)] = \
        local.transpose(1, 2).reshape(-1)
    dense = dense.view(b, length, pad_h, pad_w)[:, :, radius:-radius, radius:-radius]
    return dense.reshape(b, length, length) @ value
