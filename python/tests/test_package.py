"""The CPU part: packaging metadata, the library search, the geometry the fake kernels use, and —
with torch — argument checks that fire before any GPU work, the forward-only rule, and the
custom ops' fake (meta) implementations. Runs without a GPU and, minus the torch tests, without torch."""
import ast
import os
import re

import pytest

import sparse_skeleton as sk
from sparse_skeleton import _lib, geometry

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON)

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="no torch installed: tensor-API checks skipped")


def test_versions_match_the_header():
    header = open(os.path.join(REPO, "Sources", "SparseSkeletonC", "include", "sparse_skeleton.h")).read()
    assert int(re.search(r"#define SK_ABI_VERSION (\d+)", header).group(1)) == sk.ABI_VERSION
    swift = open(os.path.join(REPO, "Sources", "SparseSkeletonC", "SparseSkeletonC.swift")).read()
    assert int(re.search(r"let skABIVersion: Int32 = (\d+)", swift).group(1)) == sk.ABI_VERSION
    assert re.fullmatch(r"\d+\.\d+\.\d+", sk.__version__)


def test_pyproject_metadata():
    try:
        import tomllib
    except ImportError:
        pytest.skip("tomllib needs Python 3.11")
    meta = tomllib.load(open(os.path.join(PYTHON, "pyproject.toml"), "rb"))
    assert meta["project"]["name"] == "sparse-skeleton"
    assert meta["tool"]["setuptools"]["packages"] == ["sparse_skeleton"]
    assert "libSparseSkeletonC.so" in meta["tool"]["setuptools"]["package-data"]["sparse_skeleton"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "sparse_skeleton._version.__version__"


def test_setup_builds_the_product_with_a_static_swift_runtime():
    tree = ast.parse(open(os.path.join(PYTHON, "setup.py")).read())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"swift", "build", "--product", "SparseSkeletonC", "-Xswiftc", "-static-stdlib"} <= strings
    package = open(os.path.join(REPO, "Package.swift")).read()
    assert re.search(r'\.library\(name: "SparseSkeletonC", type: \.dynamic', package)


def test_library_search_is_package_then_absolute_env(monkeypatch):
    monkeypatch.delenv(_lib.ENV_OVERRIDE, raising=False)
    paths = _lib.library_candidates()
    assert paths == [os.path.join(os.path.dirname(os.path.abspath(sk.__file__)), "libSparseSkeletonC.so")]
    monkeypatch.setenv(_lib.ENV_OVERRIDE, "/opt/x/libSparseSkeletonC.so")
    assert _lib.library_candidates()[1] == "/opt/x/libSparseSkeletonC.so"
    monkeypatch.setenv(_lib.ENV_OVERRIDE, "relative/libSparseSkeletonC.so")
    with pytest.raises(OSError, match="absolute"):
        _lib.library_candidates()
    for p in paths:
        assert ".build" not in p and ".carry" not in p


def test_missing_library_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(_lib.ENV_OVERRIDE, str(tmp_path / "libSparseSkeletonC.so"))
    with pytest.raises(OSError, match="pip install ./python"):
        _lib.load(str(tmp_path / "nothing.so"))


def test_geometry_counts():
    # query tile 128, N = 200: 2 query blocks with 2 and 4 key blocks
    assert geometry.causal_tiles(200, 128) == 6
    assert geometry.mask_counts((200, 200), 4, 128) == (2 * 9, 2 * 24)
    assert geometry.causal_tiles(64, 64) == 1 and geometry.causal_tiles(65, 64) == 3
    assert geometry.sequence_lengths(cu_seqlens=[0, 5, 12]) == (5, 7)


def test_geometry_counts_equal_the_library():
    try:
        _lib.load()
    except OSError as e:
        pytest.skip(f"library not built here: {e}")
    for lengths, heads, tile in [((1,), 1, 64), ((200, 200), 4, 128), ((64, 1000, 4097), 3, 64), ((8192,), 9, 128)]:
        cu = [0]
        for n in lengths:
            cu.append(cu[-1] + n)
        assert _lib.mask_size(len(lengths), 0, cu, heads, heads, 64, 0, tile) == geometry.mask_counts(lengths, heads, tile)


def test_library_without_gpu_reports_status_2():
    try:
        _lib.load()
    except OSError as e:
        pytest.skip(f"library not built here: {e}")
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a GPU is present")
    with pytest.raises(sk.SparseSkeletonError) as e:
        _lib.context(0)
    assert e.value.status == 2


def test_first_call_of_a_process_can_be_a_context():
    """A process whose first library call is a context (the HF path does that) must not deadlock
    on the loader's lock: a fresh interpreter gets a context or an error within the timeout."""
    import subprocess
    import sys
    try:
        path = _lib.library_path()
    except OSError as e:
        pytest.skip(f"library not built here: {e}")
    code = ("import sparse_skeleton as sk\nfrom sparse_skeleton import _lib\n"
            "try:\n    _lib.context(0)\nexcept sk.SparseSkeletonError as e:\n    print('status', e.status)\nprint('returned')")
    env = {**os.environ, _lib.ENV_OVERRIDE: path}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(sk.__file__))))
    assert out.returncode == 0, out.stderr
    assert "returned" in out.stdout


# --- with torch ------------------------------------------------------------------------------

def _fake_cuda(*shapes, dtype=None, requires_grad=False):
    from torch._subclasses.fake_tensor import FakeTensorMode
    mode = FakeTensorMode()
    with mode:
        return mode, [torch.empty(*s, dtype=dtype or torch.bfloat16, device="cuda", requires_grad=requires_grad) for s in shapes]


@needs_torch
@pytest.mark.parametrize("case,error,word", [
    ("q3d", ValueError, "4 dimensions"), ("cpu", ValueError, "CUDA"), ("f32", TypeError, "bfloat16"),
    ("heads", ValueError, "multiple"), ("d96", ValueError, "head dim"), ("kv_n", ValueError, "differ"),
    ("kv_dtype", TypeError, "is torch.float16"), ("causal", ValueError, "causal"), ("scale", ValueError, "softmax_scale"),
    ("window", ValueError, "window"), ("two_targets", ValueError, "at most one"), ("eps", ValueError, "epsilon"),
    ("density", ValueError, "density"), ("budget", ValueError, "time_budget"), ("estimator", ValueError, "estimator"),
    ("tile", ValueError, "query_tile"), ("mask_type", TypeError, "Mask"), ("mask_and_target", ValueError, "not both"),
])
def test_argument_errors(case, error, word):
    mode, (q, k, v, k_bad, q96, k96, q_cpu_like, q3, qf, kh) = _fake_cuda(
        (2, 128, 4, 64), (2, 128, 2, 64), (2, 128, 2, 64), (2, 100, 2, 64), (2, 128, 4, 96), (2, 128, 2, 96), (2, 128, 3, 64),
        (128, 4, 64), (2, 128, 4, 64), (2, 128, 2, 64))
    with mode:
        qf, kh = qf.float(), kh.half()
    kw = {}
    args = [q, k, v]
    if case == "q3d":
        args = [q3, k, v]
    elif case == "cpu":
        args = [torch.empty(2, 128, 4, 64, dtype=torch.bfloat16), k, v]
    elif case == "f32":
        args = [qf, k, v]
    elif case == "heads":
        args = [q_cpu_like, k, v]
    elif case == "d96":
        args = [q96, k96, k96]
    elif case == "kv_n":
        args = [q, k_bad, k_bad]
    elif case == "kv_dtype":
        args = [q, kh, v]
    else:
        kw = {"causal": {"causal": False}, "scale": {"softmax_scale": -1.0}, "window": {"window": 0},
              "two_targets": {"epsilon": 0.1, "density": 0.2}, "eps": {"epsilon": 1.5}, "density": {"density": 0.0},
              "budget": {"time_budget_ms": float("nan")}, "estimator": {"estimator": "oracle"}, "tile": {"query_tile": 32},
              "mask_type": {"mask": object()}, "mask_and_target": {"mask": object(), "epsilon": 0.1}}[case]
    with torch.no_grad(), pytest.raises(error, match=word):
        sk.sparse_attention(*args, **kw)


@needs_torch
def test_requires_grad_is_refused_as_forward_only():
    mode, (q, k, v) = _fake_cuda((1, 64, 2, 64), (1, 64, 2, 64), (1, 64, 2, 64), requires_grad=True)
    with pytest.raises(RuntimeError, match="forward only"):
        sk.sparse_attention(q, k, v)
    with pytest.raises(RuntimeError, match="forward only"):
        sk.estimate_mask(q, k)


@needs_torch
def test_varlen_offsets_are_checked():
    mode, (q, k) = _fake_cuda((300, 4, 64), (300, 2, 64))
    for cu, word in [([0, 100, 100, 300], "increase"), ([1, 300], "start at 0"), ([0, 200], "ends at 200"), ([0], "B \\+ 1")]:
        with torch.no_grad(), pytest.raises(ValueError, match=word):
            sk.sparse_attention_varlen(q, k, k, cu)
    with torch.no_grad(), pytest.raises(ValueError, match="max_seqlen"):
        sk.sparse_attention_varlen(q, k, k, [0, 100, 300], max_seqlen=150)


@needs_torch
def test_foreign_mask_is_refused():
    mode, (q, k, ro, kb) = _fake_cuda((1, 256, 4, 64), (1, 256, 2, 64), (9,), (12,))
    m = sk.Mask(ro, kb, lengths=(512,), q_heads=4, query_tile=128)
    with torch.no_grad(), pytest.raises(ValueError, match="lengths"):
        sk.sparse_attention(q, k, k, mask=m)
    m = sk.Mask(ro, kb, lengths=(256,), q_heads=8, query_tile=128)
    with torch.no_grad(), pytest.raises(ValueError, match="8 query heads"):
        sk.sparse_attention(q, k, k, mask=m)


def _cpu_as_cuda(monkeypatch, calls):
    """CPU tensors that read as CUDA device -1 (their get_device()), the library call recorded."""
    from sparse_skeleton import _ops
    monkeypatch.setattr(torch.Tensor, "is_cuda", property(lambda self: True))
    monkeypatch.setattr(torch._C, "_cuda_getDevice", lambda: -1, raising=False)
    monkeypatch.setattr(torch._C, "_cuda_getCurrentRawStream", lambda index: 77, raising=False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: -1)
    monkeypatch.setattr(_lib, "context", lambda index: 1000 + index)
    monkeypatch.setattr(_lib, "call", lambda name, *args: calls.append((name, args)))
    return _ops


@needs_torch
def test_mask_fast_path_makes_the_general_paths_call(monkeypatch):
    """sparse_attention(mask=)'s fast path passes the library what the general path passes (but
    the fresh output pointers), with a scale too; anything it does not take goes the general way."""
    calls = []
    _ops = _cpu_as_cuda(monkeypatch, calls)
    general = []
    real = _ops.attention_impl
    monkeypatch.setattr(_ops, "attention_impl", lambda *a, **kw: general.append(1) or real(*a, **kw))
    q, k = torch.randn(2, 300, 4, 64, dtype=torch.float16), torch.randn(2, 300, 2, 64, dtype=torch.float16)
    m = sk.Mask(torch.zeros(4 * 3 + 1, dtype=torch.int32), torch.zeros(4 * 8, dtype=torch.int32), (300, 300), 4, 128)
    with torch.no_grad():
        for kw in ({}, {"softmax_scale": 0.25}):
            o, lse = sk.sparse_attention(q, k, k, mask=m, return_lse=True, **kw)
            assert not general and o.shape == q.shape and o.dtype == q.dtype and lse.shape == (2, 4, 300)
            fast = calls.pop()
            sk.sparse_attention(q, k, k, mask=m, query_tile=64, **kw)  # the general path (the mask's tile is used)
            assert general.pop() and calls[-1][0] == fast[0] == "sk_attention_forward"
            slow = calls.pop()[1]
            drop = lambda a: a[:4] + a[6:]  # ctx, q, k, v | o, lse | the rest
            assert drop(fast[1]) == drop(slow)
            assert fast[1][0] == 999 and fast[1][-1] == 77 and fast[1][14] == kw.get("softmax_scale", 0.0)
        sk.sparse_attention(q.transpose(1, 2).contiguous().transpose(1, 2), k, k, mask=m)  # non-contiguous: copied
        assert general.pop()
        with pytest.raises(ValueError, match="softmax_scale"):
            sk.sparse_attention(q, k, k, mask=m, softmax_scale=float("inf"))
    with pytest.raises(RuntimeError, match="forward only"):
        sk.sparse_attention(q.requires_grad_(), k, k, mask=m)
    with torch.no_grad(), pytest.raises(TypeError, match="is torch.bfloat16"):
        sk.sparse_attention(q, k.bfloat16(), k, mask=m)
    with torch.no_grad(), pytest.raises(ValueError, match="heads"):
        sk.sparse_attention(q, k[:, :, :1], k, mask=m)


@needs_torch
def test_fake_implementations_give_the_real_shapes():
    from sparse_skeleton import _ops  # noqa: F401  (registers the ops)
    mode, (q, k, qp, kp) = _fake_cuda((2, 300, 4, 64), (2, 300, 2, 64), (500, 4, 128), (500, 1, 128))
    with mode:
        o, lse = torch.ops.sparse_skeleton.attention(q, k, k, None, None, None, 0.0, 0, 128)
        assert o.shape == q.shape and lse.shape == (2, 4, 300) and lse.dtype == torch.float32
        ro, kb = torch.ops.sparse_skeleton.estimate_mask(q, k, None, 0.0, 0, 0, 0, 0.02, 128)
        assert (ro.shape[0], kb.shape[0]) == geometry.mask_counts((300, 300), 4, 128)
        ro, kb = torch.ops.sparse_skeleton.estimate_mask(qp, kp, [0, 100, 500], 0.0, 0, 0, 1, 0.3, 64)
        assert (ro.shape[0], kb.shape[0]) == geometry.mask_counts((100, 400), 4, 64)
        o, lse = torch.ops.sparse_skeleton.attention(qp, kp, kp, ro, kb, [0, 100, 500], 0.0, 0, 64)
        assert o.shape == qp.shape and lse.shape == (500 * 4,)


@needs_torch
def test_hf_settings_layering():
    hf = pytest.importorskip("sparse_skeleton.hf")

    class Config:
        sparse_skeleton = {"epsilon": 0.05, "min_tokens": 64}

    assert hf.target(hf.current_settings(None)) == {"epsilon": 0.02}
    assert hf.current_settings(Config())["epsilon"] == 0.05
    with hf.settings(density=0.3, epsilon=None):
        s = hf.current_settings(Config())
        assert hf.target(s) == {"epsilon": None, "density": 0.3, "time_budget_ms": None} and s["min_tokens"] == 64
    with pytest.raises(TypeError, match="unknown"):
        with hf.settings(epsilonn=0.1):
            pass


@needs_torch
def test_wrapper_traces_into_one_graph(monkeypatch):
    """torch._dynamo traces sparse_attention (estimate + attention) into one graph of our two ops,
    no break, on meta tensors (the device check is bypassed: no GPU here; the ops' fake
    implementations give the shapes)."""
    import torch._dynamo
    from sparse_skeleton import api

    def no_device_check(q, k, v, packed):
        return q, k, v, q.shape[-2], k.shape[-2], q.shape[-1], 0

    monkeypatch.setattr(api._checks, "qkv", no_device_check)
    q = torch.empty(2, 1000, 8, 64, device="meta", dtype=torch.bfloat16)
    k = torch.empty(2, 1000, 2, 64, device="meta", dtype=torch.bfloat16)

    def f(q, k, v):
        return sk.sparse_attention(q * 1.0, k, v, epsilon=0.05) + 1

    torch._dynamo.reset()
    with torch.no_grad():
        e = torch._dynamo.explain(f)(q, k, k)
    assert (e.graph_count, e.graph_break_count) == (1, 0), [str(b.reason) for b in e.break_reasons]
    code = e.graphs[0].code
    assert "sparse_skeleton.estimate_mask" in code and "sparse_skeleton.attention" in code
    torch._dynamo.reset()


@needs_torch
def test_hf_registration_and_masks_on_cpu(monkeypatch):
    """With transformers: register() makes attn_implementation="sparse_skeleton" load; a plain
    prefill reaches our attention with no mask at all (so a GPU runs it sparse), a padded batch with
    SDPA's mask; on CPU tensors every call falls back to SDPA and equals attn_implementation="sdpa"."""
    transformers = pytest.importorskip("transformers", reason="no transformers installed: HF checks skipped")
    import sparse_skeleton.hf as skhf
    skhf.register()
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    seen = []
    real = skhf._fallback

    def recording(module, query, key, value, attention_mask, **kw):
        seen.append(attention_mask)
        return real(module, query, key, value, attention_mask, **kw)

    monkeypatch.setattr(skhf, "_fallback", recording)
    ids = torch.randint(0, 128, (2, 40))
    pad = torch.ones(2, 40, dtype=torch.long)
    pad[1, :5] = 0
    with torch.no_grad():
        skhf.use(model, "sparse_skeleton")
        skhf.reset_counts()
        ours = model(ids).logits
        assert seen == [None, None] and skhf.counts == {"sparse": 0, "fallback": 2}
        seen.clear()
        model(ids, attention_mask=pad)
        assert len(seen) == 2 and all(m is not None for m in seen)
        skhf.use(model, "sdpa")
        torch.testing.assert_close(ours, model(ids).logits, rtol=0, atol=0)
