"""Hugging Face transformers integration: attn_implementation="sparse_skeleton".

    import sparse_skeleton.hf
    sparse_skeleton.hf.register()
    model = AutoModelForCausalLM.from_pretrained(name, attn_implementation="sparse_skeleton", torch_dtype=torch.bfloat16)

Prefill (as many queries as keys, no padding mask, at least `min_tokens` tokens, bf16/f16 on
CUDA, head dim 64/128/256, no softcap, no dropout) runs through `sparse_attention` on an estimated
mask; everything else — decode steps, short prompts, padded batches, training — falls back to
transformers' own SDPA attention, unchanged. A model's `sliding_window` runs dense in our kernel
(the skeleton estimator takes no window).

Settings, first found wins: the `settings(...)` context manager, then `model.config.sparse_skeleton`
(a dict with the same keys), then `DEFAULTS`."""
import contextlib

import torch

from . import api

NAME = "sparse_skeleton"


# Every setting and its default. epsilon, density and time_budget_ms are the mask target (at most one;
# none: api.DEFAULT_EPSILON); prompts shorter than min_tokens run dense SDPA.
DEFAULTS = {"epsilon": None, "density": None, "time_budget_ms": None, "estimator": "skeleton", "query_tile": 128,
            "min_tokens": 1024}


def target(s):
    """The sparse_attention target keywords of settings `s`."""
    if s["epsilon"] is None and s["density"] is None and s["time_budget_ms"] is None:
        return {"epsilon": api.DEFAULT_EPSILON}
    return {"epsilon": s["epsilon"], "density": s["density"], "time_budget_ms": s["time_budget_ms"]}


_overrides = []
# calls by route since the last reset_counts() (eager calls; compiled graphs do not count)
counts = {"sparse": 0, "fallback": 0}


def reset_counts():
    counts["sparse"] = counts["fallback"] = 0


@contextlib.contextmanager
def settings(**kwargs):
    """Overrides the settings inside the block (keys of `DEFAULTS`)."""
    unknown = set(kwargs) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown sparse_skeleton settings {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    _overrides.append(kwargs)
    try:
        yield
    finally:
        _overrides.pop()


def current_settings(config=None):
    """The settings in force: DEFAULTS, updated by config.sparse_skeleton (a dict), then by the
    open settings(...) blocks (a plain dict: torch.compile traces it)."""
    merged = dict(DEFAULTS)
    from_config = getattr(config, NAME, None) if config is not None else None
    if isinstance(from_config, dict):
        merged.update(from_config)
    for o in _overrides:
        merged.update(o)
    return merged


def _fallback(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    if not torch.compiler.is_compiling():
        counts["fallback"] += 1
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def attention_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, sliding_window=None,
                      softcap=None, **kwargs):
    """The AttentionInterface function: query [B, Hq, N, d], key/value [B, Hkv, N_kv, d] →
    ([B, N, Hq, d], None)."""
    s = current_settings(getattr(module, "config", None))
    n, n_kv = query.shape[2], key.shape[2]
    ours = (attention_mask is None and n == n_kv and n >= s["min_tokens"] and not dropout and softcap is None
            and kwargs.get("is_causal", getattr(module, "is_causal", True)) is not False
            and query.is_cuda and query.dtype in (torch.bfloat16, torch.float16) and query.shape[-1] in (64, 128, 256)
            and not (torch.is_grad_enabled() and query.requires_grad))
    if not ours:
        return _fallback(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                         sliding_window=sliding_window, softcap=softcap, **kwargs)
    q, k, v = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
    if sliding_window is not None:
        o = api.sparse_attention(q, k, v, softmax_scale=scaling, window=sliding_window, density=1.0, query_tile=s["query_tile"])
    else:
        o = api.sparse_attention(q, k, v, softmax_scale=scaling, estimator=s["estimator"], query_tile=s["query_tile"], **target(s))
    if not torch.compiler.is_compiling():
        counts["sparse"] += 1
    return o, None


def attention_mask(*args, **kwargs):
    """The AttentionMaskInterface function: no mask at all (None) for a plain causal prefill —
    no padding mask, the queries are the keys, the plain causal mask function (not packed
    sequences, not a window) — decided without looking at data, so torch.compile traces it;
    otherwise transformers' SDPA mask (and attention_forward then falls back to SDPA)."""
    from transformers.masking_utils import causal_mask_function, sdpa_mask
    # transformers passes these by keyword; anything else goes to sdpa_mask unchanged
    cache_position = kwargs.get("cache_position")
    q_length = kwargs.get("q_length", cache_position.shape[0] if isinstance(cache_position, torch.Tensor) else None)
    kv_length = kwargs.get("kv_length")
    if (not args and "attention_mask" in kwargs and kwargs["attention_mask"] is None and q_length is not None
            and q_length == kv_length and kwargs.get("kv_offset", 0) == 0 and kwargs.get("q_offset", 0) == 0
            and kwargs.get("mask_function", causal_mask_function) is causal_mask_function):
        return None
    return sdpa_mask(*args, **kwargs)


def use(model, name=NAME):
    """Switches a loaded model's attention implementation (e.g. between "sdpa" and ours)."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(name)
    else:
        model.config._attn_implementation = name


def register():
    """Registers "sparse_skeleton" with transformers' AttentionInterface (and AttentionMaskInterface
    where it exists). Idempotent."""
    from transformers import AttentionInterface
    AttentionInterface.register(NAME, attention_forward)
    try:
        from transformers import AttentionMaskInterface
    except ImportError:  # transformers < 4.53 builds a 4-D mask for every custom implementation
        import warnings
        warnings.warn("this transformers has no AttentionMaskInterface (added in 4.53): models will pass a 4-D mask "
                      "and every call falls back to SDPA; upgrade transformers for sparse prefill")
        return
    AttentionMaskInterface.register(NAME, attention_mask)
