"""Independent reference tokenizer: the GGUF's byte-level BPE rebuilt with the Hugging Face
`tokenizers` package (Rust implementation, unrelated to our Swift tokenizer).

From the GGUF metadata:
  tokenizer.ggml.model = 'gpt2'     -> byte-level BPE (bytes mapped to printable unicode, GPT-2 style)
  tokenizer.ggml.tokens / merges    -> vocabulary (id = position) and merge ranks (rank = position)
  tokenizer.ggml.token_type == 3    -> control tokens (<|endoftext|>, <|im_start|>, ...): matched whole,
                                       never split by the pre-tokenizer
  tokenizer.ggml.pre = 'smollm'     -> pre-tokenizer: every digit alone, then GPT-2's regex
      's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
      (as SmolLM2's tokenizer.json: Sequence[Digits(individual_digits), ByteLevel(no prefix space)])
  tokenizer.ggml.add_bos_token = False -> encoding adds no BOS; callers that want one prepend it.
"""

from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

CONTROL_TOKEN_TYPE = 3


def field(reader: GGUFReader, key: str):
    entry = reader.fields.get(key)
    if entry is None:
        raise KeyError(f"GGUF metadata lacks {key}")
    return entry.contents()


def build_tokenizer(gguf_path: str):
    """Returns (tokenizer, info) where info records the metadata the tokenizer was built from."""
    reader = GGUFReader(gguf_path)
    if field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ValueError("only byte-level BPE ('gpt2') GGUF tokenizers are supported here")
    pre = field(reader, "tokenizer.ggml.pre")
    if pre != "smollm":
        raise ValueError(f"pre-tokenizer {pre!r} is not the one this reference implements ('smollm')")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field(reader, "tokenizer.ggml.merges")]
    vocab = {token: i for i, token in enumerate(tokens)}

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    specials = [tokens[i] for i, t in enumerate(types) if t == CONTROL_TOKEN_TYPE]
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])

    info = {
        "model": "gpt2 (byte-level BPE)",
        "pre": pre,
        "vocab_size": len(tokens),
        "merges": len(merges),
        "special_tokens": specials,
        "bos_token_id": int(field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(reader, "tokenizer.ggml.eos_token_id")),
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token")),
    }
    return tokenizer, info


def encode(tokenizer, text: str) -> list:
    """Token ids of text; no BOS/EOS is added (the GGUF says add_bos_token = False)."""
    return tokenizer.encode(text, add_special_tokens=False).ids
