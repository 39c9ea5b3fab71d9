"""Tests of the reference's building blocks against independent float64 formulations.
Run: python3 -m unittest discover -s scripts/reference -p 'test_*.py'  (no GGUF needed)"""

import unittest

import numpy as np

from gguf_weights import unpermute_rope_rows
from llama_numpy import apply_rope, causal_attention, rms_norm, rope_tables


def converter_permute(w, heads):
    """llama.cpp's converter, as documented: within a head, row a*d/2 + b moves to row 2b + a."""
    out = np.empty_like(w)
    d = w.shape[0] // heads
    for h in range(heads):
        for a in range(2):
            for b in range(d // 2):
                out[h * d + 2 * b + a] = w[h * d + a * d // 2 + b]
    return out


def interleaved_rope64(x, base):
    """GGUF-native RoPE in float64, element by element: rotate pairs (2i, 2i+1)."""
    n, heads, d = x.shape
    out = np.empty_like(x, dtype=np.float64)
    for p in range(n):
        for i in range(d // 2):
            angle = p * base ** (-2.0 * i / d)
            c, s = np.cos(angle), np.sin(angle)
            x0, x1 = x[p, :, 2 * i].astype(np.float64), x[p, :, 2 * i + 1].astype(np.float64)
            out[p, :, 2 * i], out[p, :, 2 * i + 1] = x0 * c - x1 * s, x1 * c + x0 * s
    return out


class ReferenceTests(unittest.TestCase):
    def setUp(self):
        self.rng = np.random.default_rng()

    def test_unpermute_inverts_the_converter(self):
        w = self.rng.standard_normal((3 * 64, 20)).astype(np.float32)
        np.testing.assert_array_equal(unpermute_rope_rows(converter_permute(w, 3), 3), w)

    def test_half_split_rope_on_unpermuted_rows_equals_interleaved_rope_on_gguf_rows(self):
        """The convention check: same scores either way, values related by the row permutation."""
        n, heads, d, base = 37, 3, 64, 1e5
        w_hf = self.rng.standard_normal((heads * d, 16))
        x = self.rng.standard_normal((n, 16))
        w_gguf = converter_permute(w_hf, heads)
        ours = apply_rope((x @ unpermute_rope_rows(w_gguf, heads).T).reshape(n, heads, d).astype(np.float32),
                          *rope_tables(n, d, base))
        gguf = interleaved_rope64((x @ w_gguf.T).reshape(n, heads, d), base)
        # interleaved index 2b + a holds half-split index a*d/2 + b
        ours_as_gguf = ours.reshape(n, heads, 2, d // 2).swapaxes(2, 3).reshape(n, heads, d)
        rel = np.abs(ours_as_gguf - gguf).max() / np.abs(gguf).max()
        self.assertLess(rel, 1e-5)
        # RoPE's defining property: q_m . k_n depends only on m - n
        q, k = ours[10, 0].astype(np.float64), ours[4, 0].astype(np.float64)
        raw = (x @ unpermute_rope_rows(w_gguf, heads).T).reshape(n, heads, d)
        cos, sin = rope_tables(n, d, base, np.float64)
        shifted = apply_rope(raw[[10, 4]], cos[[30, 24]], sin[[30, 24]])  # both moved by 20: same offset 6
        rel_shift = abs(shifted[0, 0] @ shifted[1, 0] - q @ k) / abs(q @ k)
        self.assertLess(rel_shift, 1e-4)

    def test_causal_gqa_attention_against_float64_loops(self):
        n, heads, kv, d = 70, 6, 2, 16
        q = self.rng.standard_normal((n, heads, d)).astype(np.float32)
        k = self.rng.standard_normal((n, kv, d)).astype(np.float32)
        v = self.rng.standard_normal((n, kv, d)).astype(np.float32)
        got = causal_attention(q, k, v)
        want = np.zeros((n, heads, d))
        for h in range(heads):
            g = h // (heads // kv)
            for i in range(n):
                s = np.array([q[i, h].astype(np.float64) @ k[j, g] / np.sqrt(d) for j in range(i + 1)])
                p = np.exp(s - s.max())
                want[i, h] = (p / p.sum()) @ v[: i + 1, g].astype(np.float64)
        self.assertLess(np.abs(got - want).max() / np.abs(want).max(), 1e-5)

    def test_rms_norm_against_float64(self):
        x = self.rng.standard_normal((5, 576)).astype(np.float32) * 3
        g = self.rng.standard_normal(576).astype(np.float32)
        x64 = x.astype(np.float64)
        want = x64 / np.sqrt((x64 ** 2).mean(axis=1, keepdims=True) + 1e-5) * g
        self.assertLess(np.abs(rms_norm(x, g, 1e-5) - want).max() / np.abs(want).max(), 1e-6)


if __name__ == "__main__":
    unittest.main()
