"""Reference Llama forward pass (prefill, batch 1) in numpy float32, used only to check our Swift model.

For tokens t_0..t_{N-1}:
  x = E[t]                                             (token embeddings, E is also the output head)
  per layer l:
    a = RMSNorm(x) * g_attn,   RMSNorm(x) = x / sqrt(mean(x^2) + eps)
    q = a Wq^T, k = a Wk^T, v = a Wv^T                 (9 query heads, 3 KV heads, d = 64)
    q, k <- RoPE (half-split): for i < d/2, angle = pos * base^(-2i/d),
            (x_i, x_{i+d/2}) -> (x_i cos - x_{i+d/2} sin, x_{i+d/2} cos + x_i sin)
    head h uses KV head h // (heads / kv_heads) (GQA)
    o_h = softmax(q_h k_g^T / sqrt(d) + causal mask) v_g
    x = x + concat(o_h) Wo^T
    m = RMSNorm(x) * g_ffn
    x = x + (silu(m Wgate^T) * (m Wup^T)) Wdown^T
  logits = RMSNorm(x) * g_out  E^T

`capture(layer, q, k, v)` (optional) receives the post-RoPE q [N, 9, d], k [N, 3, d] and v [N, 3, d].
"""

import numpy as np


def rms_norm(x: np.ndarray, gain: np.ndarray, eps: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * gain


def rope_tables(n: int, head_dim: int, base: float, dtype=np.float32):
    """cos/sin [N, d/2] computed in float64, returned in dtype: angle(pos, i) = pos * base^(-2i/d)."""
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(n, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [N, heads, d], half-split pairs (i, i + d/2)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """q [N, H, d], k/v [N, G, d] -> [N, H, d]; exact softmax per head, rows processed in chunks."""
    n, heads, d = q.shape
    group = heads // k.shape[1]
    out = np.empty_like(q)
    scale = np.float32(1.0 / np.sqrt(d))
    chunk = 1024
    for h in range(heads):
        kh, vh = k[:, h // group, :], v[:, h // group, :]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            scores = (q[start:stop, h, :] @ kh[:stop].T) * scale
            rows = np.arange(start, stop)[:, None]
            scores[np.arange(stop)[None, :] > rows] = -np.inf
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1, keepdims=True)
            out[start:stop, h, :] = scores @ vh[:stop]
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward_hidden(config, weights, tokens, capture=None, progress=None, dtype=np.float32) -> np.ndarray:
    """Final normalised hidden states [N, dim] (before the output head). dtype is the activation
    precision (float32 normally; float64 with float64 weights to measure float32's rounding error)."""
    n = len(tokens)
    d, heads, kv_heads = config.head_dim, config.heads, config.kv_heads
    embed = weights["token_embd.weight"]
    x = embed[np.asarray(tokens)].astype(dtype)
    cos, sin = rope_tables(n, d, config.rope_base, dtype)
    for layer in range(config.layers):
        w = lambda name: weights[f"blk.{layer}.{name}"]  # noqa: E731
        a = rms_norm(x, w("attn_norm.weight"), config.rms_eps)
        q = apply_rope((a @ w("attn_q.weight").T).reshape(n, heads, d), cos, sin)
        k = apply_rope((a @ w("attn_k.weight").T).reshape(n, kv_heads, d), cos, sin)
        v = (a @ w("attn_v.weight").T).reshape(n, kv_heads, d)
        if capture is not None:
            capture(layer, q, k, v)
        o = causal_attention(q, k, v).reshape(n, heads * d)
        x = x + o @ w("attn_output.weight").T
        m = rms_norm(x, w("ffn_norm.weight"), config.rms_eps)
        x = x + (silu(m @ w("ffn_gate.weight").T) * (m @ w("ffn_up.weight").T)) @ w("ffn_down.weight").T
        if progress is not None:
            progress(layer)
    return rms_norm(x, weights["output_norm.weight"], config.rms_eps)


def output_weight(weights) -> np.ndarray:
    """The output head: output.weight if present, else the tied token embeddings."""
    return weights.get("output.weight", weights["token_embd.weight"])


def logits(config, weights, hidden: np.ndarray) -> np.ndarray:
    return hidden @ output_weight(weights).T


def target_log_probs(weights, hidden: np.ndarray, targets, chunk: int = 512) -> np.ndarray:
    """log p(targets[i] | prefix) from hidden[i], computed in float64 log-softmax, chunked over rows."""
    head = output_weight(weights)
    out = np.empty(len(targets), dtype=np.float64)
    for start in range(0, len(targets), chunk):
        z = (hidden[start:start + chunk] @ head.T).astype(np.float64)
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        idx = np.asarray(targets[start:start + chunk])
        out[start:start + len(idx)] = z[np.arange(len(idx)), idx] - lse
    return out
