"""The evaluation token window shared by the reference scripts and our Swift commands:
BOS, then the tokens of the text from a start character on (default 5000), N tokens in all.
The whole remainder is tokenized before truncation so the last token is not cut by a character limit."""

import argparse
import os

from gguf_tokenizer import encode

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_MODEL = os.path.join(REPO, "data", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def fixture_arguments(doc, fixture):
    """--model and --out (default: the model tests' fixture file `fixture`) of a script writing a fixture."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(REPO, "Tests", "SparseSkeletonModelTests", "Fixtures", fixture))
    return parser.parse_args()
TEXTS = os.path.join(REPO, "data", "texts")


def read_text(name: str) -> str:
    path = name if os.path.exists(name) else os.path.join(TEXTS, name + ".txt")
    if not os.path.exists(path):
        raise FileNotFoundError(f"text {name!r} not found (looked for {path}); run scripts/setup.sh")
    with open(path, encoding="utf-8") as f:
        return f.read()


def token_window(tokenizer, info, text: str, n_tokens: int, start_char: int = 5000) -> list:
    ids = [info["bos_token_id"]] + encode(tokenizer, text[start_char:])
    if len(ids) < n_tokens:
        raise ValueError(f"text gives only {len(ids)} tokens from character {start_char}, {n_tokens} asked")
    return ids[:n_tokens]
