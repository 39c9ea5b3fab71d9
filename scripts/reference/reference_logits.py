"""Write Tests/SparseSkeletonModelTests/Fixtures/reference_logits.json: what the independent numpy
model computes for a fixed 16-token prompt, so a unit test of the Swift model (given the GGUF) can
compare against it without numpy.

Stored:
  tokens          the 16 ids (BOS + the first 15 tokens of the prompt text), given so the test does
                  not depend on our tokenizer
  top5            per position, the 5 largest logits as [id, value] (descending)
  logsumexp       per position, log sum_v exp(logit_v) (for log-probability checks)
  layer0_pos3     post-RoPE q, k, v of layer 0 at position 3: the first 8 values of every head, in two
                  layouts: "half_split" (GGUF's Q/K row permutation undone, rotate pairs (i, i+32)) and
                  "interleaved" (GGUF's native row order, rotate pairs (2i, 2i+1))
  float64_check   max |float32 - float64| of the reference itself over these values, i.e. how much of a
                  difference is rounding (the float64 run uses the same dequantised weights)

Values come from the float64 run (the more exact one). Usage: python3 reference_logits.py
"""

import datetime
import hashlib
import json
import os

import numpy as np

from gguf_tokenizer import build_tokenizer, encode
from gguf_weights import load_llama
from llama_numpy import forward_hidden, logits
from text_window import fixture_arguments

PROMPT = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
POSITION = 3
VALUES_PER_HEAD = 8


def interleave(x: np.ndarray) -> np.ndarray:
    """Half-split layout -> GGUF's interleaved layout: element (a*d/2 + b) goes to (2b + a)."""
    heads, d = x.shape
    return x.reshape(heads, 2, d // 2).swapaxes(1, 2).reshape(heads, d)


def run(config, weights, tokens, dtype):
    captured = {}

    def capture(layer, q, k, v):
        if layer == 0:
            captured.update(q=q[POSITION].copy(), k=k[POSITION].copy(), v=v[POSITION].copy())

    hidden = forward_hidden(config, weights, tokens, capture=capture, dtype=dtype)
    return logits(config, weights, hidden).astype(np.float64), captured


def main():
    args = fixture_arguments(__doc__, "reference_logits.json")
    config, weights = load_llama(args.model)
    tokenizer, info = build_tokenizer(args.model)
    tokens = [info["bos_token_id"]] + encode(tokenizer, PROMPT)[:15]
    assert len(tokens) == 16, "prompt too short"

    logits32, cap32 = run(config, weights, tokens, np.float32)
    weights64 = {name: w.astype(np.float64) for name, w in weights.items()}
    logits64, cap64 = run(config, weights64, tokens, np.float64)

    top5, lse = [], []
    for row in logits64:
        order = np.argsort(-row)[:5]
        top5.append([[int(i), round(float(row[i]), 5)] for i in order])
        m = row.max()
        lse.append(round(float(m + np.log(np.exp(row - m).sum())), 5))

    def heads(x):
        return [[round(float(v), 6) for v in head[:VALUES_PER_HEAD]] for head in x]

    layer0 = {
        "half_split": {name: heads(cap64[name]) for name in ("q", "k", "v")},
        "interleaved": {"q": heads(interleave(cap64["q"])), "k": heads(interleave(cap64["k"])),
                        "v": heads(cap64["v"])},
    }
    with open(args.model, "rb") as f:
        model_sha = hashlib.file_digest(f, "sha256").hexdigest()
    fixture = {
        "producer": "scripts/reference/reference_logits.py (numpy reference, float64 activations)",
        "created": datetime.date.today().isoformat(),
        "model": os.path.basename(args.model),
        "model_sha256": model_sha,
        "prompt_text": PROMPT,
        "tokens": tokens,
        "bos_first": True,
        "top5": top5,
        "logsumexp": lse,
        "layer0_position": POSITION,
        "values_per_head": VALUES_PER_HEAD,
        "layer0_pos3": layer0,
        "float64_check": {
            "max_abs_logit_diff_float32_vs_float64": float(np.abs(logits32 - logits64).max()),
            "max_abs_layer0_q_diff": float(np.abs(cap32["q"] - cap64["q"]).max()),
            "max_abs_layer0_k_diff": float(np.abs(cap32["k"] - cap64["k"]).max()),
            "logit_range": [float(logits64.min()), float(logits64.max())],
        },
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}; float32 vs float64 max |logit diff| = "
          f"{fixture['float64_check']['max_abs_logit_diff_float32_vs_float64']:.2e}")


if __name__ == "__main__":
    main()
