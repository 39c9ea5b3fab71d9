"""Load a Llama-architecture GGUF into float32 numpy arrays with the `gguf` package's reader and
dequantisers (independent of our Swift GGUF reader).

Layout: GGUF lists a tensor's dimensions fastest-first (ne0 = input features), so a weight of
GGUF shape [in, out] is the row-major numpy matrix W[out, in] and a layer computes y = x @ W.T.

RoPE permutation: llama.cpp's converter reorders the rows of attn_q / attn_k inside each head so that
its RoPE can rotate adjacent pairs (2i, 2i+1) ("interleaved"/GPT-J style). The Hugging Face model
rotates the pairs (i, i + d/2) ("half-split"/NeoX style). Per head of size d, converter row
2*b + a (a in {0,1}, b < d/2) holds original row a*d/2 + b. We undo it here, so this reference
computes Q/K in the original half-split layout; scores q.k are identical in both conventions
because the same permutation is applied to q and k.
"""

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


class LlamaConfig:
    def __init__(self, reader: GGUFReader):
        def get(key):
            entry = reader.fields.get(key)
            if entry is None:
                raise KeyError(f"GGUF metadata lacks {key}")
            return entry.contents()

        arch = get("general.architecture")
        if arch != "llama":
            raise ValueError(f"architecture {arch!r} is not supported by this reference (only 'llama')")
        self.layers = int(get("llama.block_count"))
        self.dim = int(get("llama.embedding_length"))
        self.ffn = int(get("llama.feed_forward_length"))
        self.heads = int(get("llama.attention.head_count"))
        self.kv_heads = int(get("llama.attention.head_count_kv"))
        self.head_dim = self.dim // self.heads
        self.rope_base = float(get("llama.rope.freq_base"))
        self.rms_eps = float(get("llama.attention.layer_norm_rms_epsilon"))
        self.context = int(get("llama.context_length"))
        self.vocab = int(get("llama.vocab_size"))

    def as_dict(self):
        return dict(vars(self))


def unpermute_rope_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of llama.cpp's Q/K row permutation: rows (h, b, a) -> (h, a, b)."""
    out_features, in_features = w.shape
    half = out_features // heads // 2
    return w.reshape(heads, half, 2, in_features).swapaxes(1, 2).reshape(out_features, in_features)


def load_llama(gguf_path: str):
    """Returns (config, weights): weights maps GGUF tensor names to float32 [out, in] matrices."""
    reader = GGUFReader(gguf_path)
    config = LlamaConfig(reader)
    weights = {}
    for tensor in reader.tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))  # numpy order: slowest first
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32, copy=False).reshape(shape)
        if tensor.name.endswith("attn_q.weight"):
            values = unpermute_rope_rows(values, config.heads)
        elif tensor.name.endswith("attn_k.weight"):
            values = unpermute_rope_rows(values, config.kv_heads)
        weights[tensor.name] = np.ascontiguousarray(values)
    return config, weights
