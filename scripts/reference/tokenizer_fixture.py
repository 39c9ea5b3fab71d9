"""Write Tests/SparseSkeletonModelTests/Fixtures/tokenizer_expected.json: the token ids that the
independent reference tokenizer (gguf_tokenizer.py, Hugging Face `tokenizers`) gives for varied
strings and for 2000 characters of Pride and Prejudice, so our Swift tokenizer is tested against them.

Each case stores the text itself, so the Swift test needs only the GGUF, not the texts.
encode() adds no BOS (the GGUF says tokenizer.ggml.add_bos_token = False); recorded in the file.

Usage: python3 tokenizer_fixture.py [--model M]
"""

import hashlib
import json
import os

import tokenizers

from gguf_tokenizer import build_tokenizer, encode
from text_window import fixture_arguments, read_text

CASES = [
    ("ascii_words", "Hello world"),
    ("sentence_punctuation", "Hello, world! How are you today?"),
    ("digits_split_individually", "The year 2024 had 366 days; pi is 3.14159."),
    ("numbers_money_percent", "1234567890 000 12.5% $99.99 -7"),
    ("space_runs", "  leading spaces and   runs   of spaces  "),
    ("tabs", "tabs\tand\ttabs\t\tdouble"),
    ("newlines", "line one\nline two\n\nparagraph\n\n\n\nmany newlines\r\nwindows"),
    ("whitespace_only", "  \n  \t \n"),
    ("single_space", " "),
    ("single_newline", "\n"),
    ("contractions", "don't I'll we're they've she'd you'm IT'S it's"),
    ("code", "x=1+2*3; y = f(x) // comment\nif (a && b) { return -0.5e-3; }"),
    ("url", "https://example.com/path?q=1&r=two#frag"),
    ("mixed_case", "ALL CAPS AND MiXeD cAsE wOrDs"),
    ("punctuation_runs", "Punctuation!!! ??? ... --- ''' \"\"\" (((]]]"),
    ("latin_accents", "café naïve résumé Zürich façade"),
    ("more_scripts", "Ñandú, œuvre, Ærø, ß, İstanbul, Ελληνικά, Русский"),
    ("combining_and_invisible", "e\u0301 combining acute, non\u00a0breaking, zero\u200bwidth"),
    ("emoji", "emoji: 🙂👍🏽 🚀🔥 family 👨‍👩‍👧"),
    ("cjk", "中文字符测试，日本語のテキスト、한국어"),
    ("chat_template", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                      "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"),
    ("special_tokens_adjacent", "<|endoftext|><|im_start|><|im_end|>text<|im_end|>"),
    ("special_token_partial", "<|im_start and <|im_end| are not special"),
    ("empty", ""),
]


def main():
    args = fixture_arguments(__doc__, "tokenizer_expected.json")
    tokenizer, info = build_tokenizer(args.model)

    pride = read_text("pride_and_prejudice")[5000:7000]
    cases = CASES + [("pride_and_prejudice_chars_5000_to_7000", pride)]
    records = []
    for name, text in cases:
        ids = encode(tokenizer, text)
        decoded = tokenizer.decode(ids, skip_special_tokens=False)
        if decoded != text:
            raise SystemExit(f"reference tokenizer does not round-trip case {name!r}: {decoded!r}")
        records.append({"name": name, "text": text, "ids": ids})

    with open(args.model, "rb") as f:
        model_sha = hashlib.file_digest(f, "sha256").hexdigest()
    fixture = {
        "producer": "scripts/reference/tokenizer_fixture.py (Hugging Face tokenizers "
                    f"{tokenizers.__version__}, BPE rebuilt from the GGUF metadata)",
        "model": os.path.basename(args.model),
        "model_sha256": model_sha,
        "tokenizer": {k: v for k, v in info.items()},
        "encode_adds_bos": False,
        "note": "ids = encode(text) with nothing added: no BOS, no EOS. Control tokens written in the text "
                "(<|im_start|> ...) become single tokens. Every case decodes back to its text exactly. "
                "Perplexity windows prepend bos_token_id themselves.",
        "cases": records,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(records)} cases, {sum(len(r['ids']) for r in records)} ids")


if __name__ == "__main__":
    main()
