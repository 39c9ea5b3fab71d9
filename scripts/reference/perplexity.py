"""Perplexity of the numpy reference model on one window of a text, at several context lengths.

For a window t_0..t_{N-1} (BOS, then the text's tokens from the start character on):
  ppl(N) = exp( -(1/(N-1)) * sum_{i=1}^{N-1} log p(t_i | t_0..t_{i-1}) )
one forward pass per N, no sliding. Prints a markdown table and, with --out, writes it with the
command and date.

Usage: python3 perplexity.py --text pride_and_prejudice --contexts 1024,4096 --out bench/results/reference-ppl.md
"""

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from gguf_tokenizer import build_tokenizer
from gguf_weights import load_llama
from llama_numpy import forward_hidden, target_log_probs
from text_window import DEFAULT_MODEL, read_text, token_window


def perplexity(config, weights, ids):
    hidden = forward_hidden(config, weights, ids)
    log_probs = target_log_probs(weights, hidden[:-1], ids[1:])
    return float(np.exp(-log_probs.mean())), float(-log_probs.mean())


def first_token_variant(window, bos: str, n: int) -> list:
    """window = [BOS] + text tokens (n + 1 of them); the N-token window with the first token chosen."""
    if bos == "gguf":
        return window[:n]
    if bos == "none":
        return window[1:n + 1]
    return [int(bos)] + window[1:n]


def describe_first_token(bos: str, info) -> str:
    if bos == "gguf":
        return f"BOS (id {info['bos_token_id']}) first"
    if bos == "none":
        return "no BOS"
    return f"token {bos} first (instead of the GGUF's BOS)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--text", default="pride_and_prejudice")
    parser.add_argument("--contexts", default="1024,4096")
    parser.add_argument("--start-char", type=int, default=5000)
    parser.add_argument("--bos", default="gguf",
                        help="first token: 'gguf' (the GGUF's bos_token_id, default), a token id, or 'none'")
    parser.add_argument("--out")
    args = parser.parse_args()

    config, weights = load_llama(args.model)
    tokenizer, info = build_tokenizer(args.model)
    text = read_text(args.text)
    rows = []
    for n in (int(c) for c in args.contexts.split(",")):
        ids = first_token_variant(token_window(tokenizer, info, text, n + 1, args.start_char), args.bos, n)
        started = time.time()
        ppl, nll = perplexity(config, weights, ids)
        seconds = time.time() - started
        rows.append((n, ppl, nll, seconds))
        print(f"N={n}: ppl {ppl:.4f} (mean NLL {nll:.5f} nats over {n - 1} predictions, {seconds:.0f} s)", flush=True)

    table = ["| context N | predictions | perplexity | mean NLL (nats) | time (s) |",
             "|---:|---:|---:|---:|---:|"]
    table += [f"| {n} | {n - 1} | {ppl:.4f} | {nll:.5f} | {s:.0f} |" for n, ppl, nll, s in rows]
    if args.out:
        command = "python3 scripts/reference/perplexity.py " + " ".join(sys.argv[1:])
        body = [
            "# Reference perplexity (independent numpy implementation)",
            "",
            f"Model `{os.path.basename(args.model)}`; text `{args.text}` from character {args.start_char} "
            f"(lines joined with spaces, paragraphs with blank lines), {describe_first_token(args.bos, info)}, "
            "one window of N tokens, float32 forward pass, float64 log-softmax. "
            "Weights dequantised by the `gguf` package, tokens from the `tokenizers` package "
            "(scripts/reference/). The issue's figures for this setting: about 20.0 at 1K and 22.8 at 4K.",
            "",
            *table,
            "",
            f"Command: `{command}` (after `bash scripts/setup.sh`; needs `pip install numpy gguf tokenizers`)",
            f"Date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, CPU only ({os.cpu_count()} cores, possibly "
            f"shared: times are indicative only), numpy {np.__version__}.",
            "",
        ]
        with open(args.out, "w") as f:
            f.write("\n".join(body))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
