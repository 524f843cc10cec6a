"""The tiled 15x15 attention equals the official dense formulation."""

from __future__ import annotations

import pytest
import torch

from aot.model.local_attention import dense_window_attention, local_window_attention


@pytest.mark.parametrize("size,tile", [((18, 41), 8), ((31, 54), 16), ((9, 13), 8),
                                       ((5, 4), 8), ((1, 30), 6), ((20, 20), 5)])
def test_matches_dense(size, tile):
    torch.manual_seed(0)
    length = size[0] * size[1]
    q, k = torch.randn(2, length, 16), torch.randn(2, length, 16)
    v, bias = torch.randn(2, length, 24), torch.randn(2, length, 225)
    ours = local_window_attention(q, k, v, bias, size, tile=tile)
    assert torch.allclose(ours, dense_window_attention(q, k, v, bias, size), atol=1e-5)


def test_only_the_window_is_attended():
    size = (20, 20)
    torch.manual_seed(1)
    q, k = torch.randn(1, 400, 8), torch.randn(1, 400, 8)
    v = torch.zeros(1, 400, 1)
    v[0, 0] = 1.0  # only the top-left key carries value
    out = local_window_attention(q, k, v, torch.zeros(1, 400, 225), size).view(20, 20)
    assert (out[:8, :8] > 0).all()
    assert (out[8:, :] == 0).all() and (out[:, 8:] == 0).all()


def test_matches_brute_force_windows():
    torch.manual_seed(2)
    h, w, radius = 5, 6, 2
    q, k = torch.randn(1, h * w, 4), torch.randn(1, h * w, 4)
    v, bias = torch.randn(1, h * w, 3), torch.randn(1, h * w, (2 * radius + 1) ** 2)
    expected = torch.zeros(h * w, 3)
    for y in range(h):
        for x in range(w):
            scores, values = [], []
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        key = (y + dy) * w + x + dx
                        offset = (dy + radius) * (2 * radius + 1) + dx + radius
                        scores.append(q[0, y * w + x] @ k[0, key] + bias[0, y * w + x, offset])
                        values.append(v[0, key])
            weights = torch.stack(scores).softmax(0)
            expected[y * w + x] = (weights[:, None] * torch.stack(values)).sum(0)
    ours = local_window_attention(q, k, v, bias, (h, w), radius=radius, tile=3)
    assert torch.allclose(ours[0], expected, atol=1e-5)
