"""Dump the real post-RoPE Q, K and V of every layer of the reference model for one text window.

Writes <out>/layer<LL>_{q,k,v}.npy (float32, C order, .npy v1.0, shapes [N, 9, 64] / [N, 3, 64] / [N, 3, 64])
and <out>/meta.json, the manifest `skeleton mask-eval --dir` reads (format sparseskeleton-capture
version 2: tokens, layers, model and text SHA-256, file sizes), sealed by <out>/COMPLETE written last
("sha256 <digest of meta.json>"). Q and K are in the half-split RoPE layout (GGUF's row permutation undone), so
q_h . k_g / sqrt(64) are the model's true attention logits (head h uses KV head g = h // 3).

Usage: python3 dump_qk.py --text pride_and_prejudice --tokens 4096 --out data/qk/pride_4096
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import time

import numpy as np

from gguf_tokenizer import build_tokenizer
from gguf_weights import load_llama
from llama_numpy import forward_hidden
from text_window import DEFAULT_MODEL, TEXTS, read_text, token_window


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomically(path, data: bytes):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--text", required=True, help="name under data/texts (no .txt) or a path")
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--start-char", type=int, default=5000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    config, weights = load_llama(args.model)
    tokenizer, info = build_tokenizer(args.model)
    if args.tokens > config.context:
        sys.exit(f"error: {args.tokens} tokens exceed the model's context {config.context}")
    ids = token_window(tokenizer, info, read_text(args.text), args.tokens, args.start_char)
    os.makedirs(args.out, exist_ok=True)
    marker = os.path.join(args.out, "COMPLETE")
    if os.path.exists(marker):  # the folder stops being a complete capture while its files change
        os.remove(marker)

    def capture(layer, q, k, v):
        for name, array in (("q", q), ("k", k), ("v", v)):
            np.save(os.path.join(args.out, f"layer{layer:02d}_{name}.npy"), np.ascontiguousarray(array, dtype="<f4"))

    started = time.time()
    forward_hidden(config, weights, ids, capture=capture,
                   progress=lambda l: print(f"  layer {l + 1}/{config.layers} ({time.time() - started:.0f} s)",
                                            file=sys.stderr, flush=True))
    text_path = args.text if os.path.exists(args.text) else os.path.join(TEXTS, args.text + ".txt")
    files = [f"layer{layer:02d}_{name}.npy" for layer in range(config.layers) for name in ("q", "k", "v")]
    meta = {
        "format": "sparseskeleton-capture",
        "format_version": 2,
        "captured_layers": list(range(config.layers)),
        "model_sha256": sha256_file(args.model),
        "text_sha256": sha256_file(text_path),
        "file_bytes": {f: os.path.getsize(os.path.join(args.out, f)) for f in files},
        "text": args.text,
        "start_char": args.start_char,
        "tokens": args.tokens,
        "bos_first": True,
        "bos_token_id": info["bos_token_id"],
        "token_ids": ids,
        "model": os.path.basename(args.model),
        "layers": config.layers,
        "query_heads": config.heads,
        "kv_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "gqa": "query head h uses kv head h // (query_heads / kv_heads)",
        "rope_base": config.rope_base,
        "rope_convention": "half-split (NeoX / Hugging Face): dim i pairs with i + head_dim/2, angle = pos * "
                           "base^(-2i/head_dim); GGUF's Q/K row permutation undone; q.k/sqrt(head_dim) = true logits",
        "text_format": "lines joined with spaces, paragraphs separated by a blank line",
        "dtype": "float32 little-endian, C order, .npy v1.0",
        "files": "layer<LL>_{q,k,v}.npy, shapes [N, query_heads, head_dim] / [N, kv_heads, head_dim]",
        "producer": "scripts/reference/dump_qk.py (numpy reference forward pass)",
        "created": datetime.date.today().isoformat(),
    }
    meta_bytes = json.dumps(meta, indent=1).encode()
    write_atomically(os.path.join(args.out, "meta.json"), meta_bytes)
    write_atomically(marker, f"sha256 {hashlib.sha256(meta_bytes).hexdigest()}\n".encode())
    print(f"wrote {config.layers} layers of Q/K/V for {args.tokens} tokens to {args.out} "
          f"in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
