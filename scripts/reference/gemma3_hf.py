"""Gemma-3 reference fixtures from Hugging Face `transformers` loading the same GGUF.

Writes Tests/SparseSkeletonModelTests/Fixtures/gemma3_reference.json: token ids of short strings
and of 1024-token windows of Austen novels (BOS, then the text from character 5000, as
`ModelSession.window`), the last-position logits (top 20, log-sum-exp, a fixed sample of 64
ids) and the per-position target log-probabilities of the 1K window of Pride and Prejudice with
its perplexity, and sample values of one tensor per quantisation type from the `gguf` package's
dequantisers. Nothing in the tests runs this; they read the JSON.

    /work/venv-hf/bin/python scripts/reference/gemma3_hf.py   # torch (CPU), transformers, accelerate, gguf

transformers' GGUF path dequantises every tensor to float32 and runs its own Gemma3 modelling
code (eager attention), so it shares no code with the Swift model beyond the file.
"""

import argparse
import json
import math
import os
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODEL = os.path.join(REPO, "data", "models", "gemma-3-270m-q4_k_m.gguf")
OUT = os.path.join(REPO, "Tests", "SparseSkeletonModelTests", "Fixtures", "gemma3_reference.json")

SHORT_STRINGS = [
    "Hello world",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune",
    "  two leading spaces,  double  spaces and a trailing one ",
    "Line one.\nLine two.\n\n\nAfter three newlines;\ttab",
    "naïve café — “quoted” 東京 🙂 Ünïcödé",
    "<start_of_turn>user\nWhat is 12345 + 67890?<end_of_turn>\n<start_of_turn>model\n",
    "Mr. Darcy's £10,000 a year... (or so) [sic] {x: 1}",
]
WINDOW_TEXTS = ["pride_and_prejudice", "emma", "persuasion"]
WINDOW = 1024
START_CHAR = 5000
SAMPLE_IDS = [int(i) for i in np.linspace(0, 262143, 64).round()]


def read_text(name):
    with open(os.path.join(REPO, "data", "texts", name + ".txt"), encoding="utf-8") as f:
        return f.read()


def dequant_samples(path):
    """Per quantisation type: the smallest tensor of that type (the first of equals), 32 values
    at fixed flat indices, and the float64 sum and sum of squares of the whole dequantised tensor."""
    import gguf

    reader = gguf.GGUFReader(path)
    smallest = {}
    for t in reader.tensors:
        kind = t.tensor_type.name
        if kind != "F32" and (kind not in smallest or t.n_elements < smallest[kind].n_elements):
            smallest[kind] = t
    out = []
    for kind, t in sorted(smallest.items()):
        values = gguf.dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
        idx = [int(i) for i in np.linspace(0, values.size - 1, 32).round()]
        out.append({"tensor": t.name, "type": kind, "count": int(values.size), "indices": idx,
                    "values": [float(values[i]) for i in idx],
                    "sum": float(values.sum()), "sum_squares": float((values * values).sum())})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--dequant-only", action="store_true", help="only refresh the fixture's dequantisation samples (no torch needed)")
    args = parser.parse_args()
    if args.dequant_only:
        with open(args.out) as f:
            fixture = json.load(f)
        fixture["dequant"] = dequant_samples(args.model)
        with open(args.out, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
        print(f"refreshed the dequantisation samples in {args.out}")
        return

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    folder, name = os.path.split(os.path.abspath(args.model))
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    print(f"loaded in {time.time() - t0:.0f} s")
    bos = tok.bos_token_id

    short = [{"text": s, "ids": tok(s, add_special_tokens=False)["input_ids"]} for s in SHORT_STRINGS]
    windows = []
    for text_name in WINDOW_TEXTS:
        ids = [bos] + tok(read_text(text_name)[START_CHAR:], add_special_tokens=False)["input_ids"]
        windows.append({"text": text_name, "start_char": START_CHAR, "ids": ids[:WINDOW]})

    def last_logits(ids):
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].double()

    def summary(row):
        row = row.numpy()
        top = np.argsort(-row)[:20]
        m = row.max()
        return {"top20": [[int(i), float(row[i])] for i in top],
                "logsumexp": float(m + math.log(np.exp(row - m).sum())),
                "sample": [float(row[i]) for i in SAMPLE_IDS], "norm": float(np.linalg.norm(row))}

    short_logits = []
    for s in short[:2]:
        ids = [bos] + s["ids"]
        short_logits.append({"ids": ids, "last": summary(last_logits(ids)[-1])})

    ids = windows[0]["ids"]
    t0 = time.time()
    logits = last_logits(ids)
    logp = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor(ids[1:])
    target_lp = logp[:-1].gather(1, targets[:, None])[:, 0]
    nll = float(-target_lp.mean())
    print(f"1K forward in {time.time() - t0:.1f} s: perplexity {math.exp(nll):.4f}")

    fixture = {
        "producer": f"scripts/reference/gemma3_hf.py (transformers {transformers.__version__}, torch {torch.__version__}, float32, eager attention)",
        "model": name, "bos_token_id": bos, "sample_ids": SAMPLE_IDS,
        "short_strings": short, "windows": windows, "short_logits": short_logits,
        "window_logits": {"text": windows[0]["text"], "tokens": len(ids), "last": summary(logits[-1]),
                          "target_logprobs": [round(float(x), 6) for x in target_lp],
                          "mean_nll": nll, "perplexity": math.exp(nll)},
        "dequant": dequant_samples(args.model),
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
