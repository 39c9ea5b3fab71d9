"""attn_implementation="sparse_skeleton" on a small random Llama built from a config (no
download): prefill runs through our kernel (equal to SDPA at density 1), decode steps and padded
batches fall back to SDPA, settings come from the config and the context manager. Skips without
a GPU or transformers."""
import pytest

torch = pytest.importorskip("torch", reason="no torch installed: GPU tests skipped")

transformers = pytest.importorskip("transformers")
import sparse_skeleton.hf as skhf  # noqa: E402


def tiny_llama(gpu, attn, head_dim=64):
    cfg = transformers.LlamaConfig(vocab_size=512, hidden_size=4 * head_dim, intermediate_size=512, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=head_dim,
                                   max_position_embeddings=4096)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).to(device=gpu, dtype=torch.bfloat16).eval()
    skhf.use(model, attn)
    return model


def test_prefill_through_our_kernel_equals_sdpa_at_density_one(gpu):
    skhf.register()
    ours, ref = tiny_llama(gpu, "sparse_skeleton"), tiny_llama(gpu, "sdpa")
    ids = torch.randint(0, 512, (2, 1500), device=gpu)
    with torch.no_grad():
        skhf.reset_counts()
        with skhf.settings(density=1.0, epsilon=None):
            a = ours(ids).logits.float()
        assert skhf.counts == {"sparse": 2, "fallback": 0}
        b = ref(ids).logits.float()
    assert (a - b).abs().max().item() < 0.1 * b.abs().max().item()
    assert torch.equal(a.argmax(-1)[:, :-1], b.argmax(-1)[:, :-1]) or (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.98


def test_sparse_default_decode_and_padding_fall_back(gpu):
    skhf.register()
    model = tiny_llama(gpu, "sparse_skeleton")
    ids = torch.randint(0, 512, (1, 1200), device=gpu)
    with torch.no_grad():
        skhf.reset_counts()
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
        assert out.shape == (1, 1203)
        assert skhf.counts["sparse"] == 2 and skhf.counts["fallback"] >= 2 * 2  # prefill sparse, decode steps dense
        skhf.reset_counts()
        model(torch.randint(0, 512, (1, 100), device=gpu))  # short prompt
        assert skhf.counts == {"sparse": 0, "fallback": 2}
        skhf.reset_counts()
        pad = torch.ones(2, 1200, dtype=torch.long, device=gpu)
        pad[1, :50] = 0
        model(torch.randint(0, 512, (2, 1200), device=gpu), attention_mask=pad)
        assert skhf.counts == {"sparse": 0, "fallback": 2}


def test_settings_from_config(gpu):
    skhf.register()
    model = tiny_llama(gpu, "sparse_skeleton")
    model.config.sparse_skeleton = {"min_tokens": 2000}
    with torch.no_grad():
        skhf.reset_counts()
        model(torch.randint(0, 512, (1, 1200), device=gpu))
        assert skhf.counts == {"sparse": 0, "fallback": 2}
        with skhf.settings(min_tokens=64, epsilon=0.05):
            model(torch.randint(0, 512, (1, 1200), device=gpu))
        assert skhf.counts["sparse"] == 2
