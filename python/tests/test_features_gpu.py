"""What a PyTorch user relies on beyond the numbers: strided inputs, streams, masks that stay
valid, clear errors for foreign masks and requires_grad, torch.compile without graph breaks, CUDA
graph capture and replay, time budgets, the MInference estimator, a second device. Skips without a GPU."""
import pytest

torch = pytest.importorskip("torch", reason="no torch installed: GPU tests skipped")

import sparse_skeleton as sk
from test_attention_gpu import make


def qkv(device, b=1, n=1536, hq=8, hkv=2, d=128, dtype=torch.bfloat16, seed=0):
    return (make((b, n, hq, d), dtype, seed, device), make((b, n, hkv, d), dtype, seed + 1, device),
            make((b, n, hkv, d), dtype, seed + 2, device))


def test_strided_inputs_equal_contiguous(gpu):
    q, k, v = qkv(gpu)
    # HF's layout: [B, H, N, d] tensors seen through transpose(1, 2)
    qs, ks, vs = (t.transpose(1, 2).contiguous().transpose(1, 2) for t in (q, k, v))
    assert not qs.is_contiguous()
    with torch.no_grad():
        m = sk.estimate_mask(q, k, epsilon=0.05)
        torch.testing.assert_close(sk.sparse_attention(qs, ks, vs, mask=m), sk.sparse_attention(q, k, v, mask=m), rtol=0, atol=0)
        torch.testing.assert_close(sk.estimate_mask(qs, ks, epsilon=0.05).key_blocks, m.key_blocks, rtol=0, atol=0)


def test_side_stream_equals_default_stream(gpu):
    q, k, v = qkv(gpu)
    with torch.no_grad():
        o0 = sk.sparse_attention(q, k, v, epsilon=0.05)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            o1 = sk.sparse_attention(q, k, v, epsilon=0.05)
        torch.cuda.current_stream().wait_stream(s)
    torch.testing.assert_close(o1, o0, rtol=0, atol=0)


def test_mask_stays_valid_after_other_estimates(gpu):
    q, k, v = qkv(gpu)
    with torch.no_grad():
        m = sk.estimate_mask(q, k, density=0.2)
        first = sk.sparse_attention(q, k, v, mask=m)
        keep = m.key_blocks.clone()
        q2, k2, _ = qkv(gpu, seed=11)
        sk.estimate_mask(q2, k2, density=0.6)          # same shape: the estimator's workspace is reused
        sk.estimate_mask(q2[:, :700], k2[:, :700], epsilon=0.1)  # another shape
        torch.testing.assert_close(m.key_blocks, keep, rtol=0, atol=0)
        torch.testing.assert_close(sk.sparse_attention(q, k, v, mask=m), first, rtol=0, atol=0)


def test_foreign_mask_and_forward_only_errors(gpu):
    q, k, v = qkv(gpu)
    with torch.no_grad():
        m = sk.estimate_mask(q, k)
        with pytest.raises(ValueError, match="lengths"):
            sk.sparse_attention(q[:, :1000], k[:, :1000], v[:, :1000], mask=m)
        with pytest.raises(ValueError, match="query heads"):
            sk.sparse_attention(q[:, :, :4], k[:, :, :1], v[:, :, :1], mask=m)
        with pytest.raises(TypeError, match="Mask"):
            sk.sparse_attention(q, k, v, mask=(m.row_offsets, m.key_blocks))
        with pytest.raises(sk.SparseSkeletonError, match="error bound"):
            sk.estimate_mask(q, k, epsilon=0.05, estimator="minference")
        with pytest.raises(sk.SparseSkeletonError, match="window"):
            sk.estimate_mask(q, k, epsilon=0.05, window=512)
    qg = q.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="forward only"):
        sk.sparse_attention(qg, k, v)


def test_lse_layouts(gpu):
    q, k, v = qkv(gpu, b=2, n=300)
    with torch.no_grad():
        o, lse = sk.sparse_attention(q, k, v, density=1.0, return_lse=True)
        assert lse.shape == (2, 8, 300) and lse.dtype == torch.float32
        qp, kp, vp = (t.reshape(600, t.shape[2], t.shape[3]) for t in (q, k, v))
        op, lsep = sk.sparse_attention_varlen(qp, kp, vp, [0, 300, 600], 300, density=1.0, return_lse=True)
        assert lsep.shape == (8, 600)
        torch.testing.assert_close(lsep[:, 300:], lse[1], rtol=0, atol=0)
        torch.testing.assert_close(op.view(2, 300, 8, 128), o, rtol=0, atol=0)


def test_minference_density_target(gpu):
    q, k, v = qkv(gpu, n=4096)
    with torch.no_grad():
        m = sk.estimate_mask(q, k, density=0.3, estimator="minference")
        assert 0.05 < m.density() < 0.6
        o = sk.sparse_attention(q, k, v, mask=m)
    assert torch.isfinite(o).all()


def test_time_budget(gpu):
    q, k, v = qkv(gpu, n=4096)
    with torch.no_grad():
        cal = sk.calibrate_time_budget(q[0], k[0], v[0])
        assert cal["per_tile_ns"] > 0 and cal["estimation_ms"] > 0
        tight = sk.estimate_mask(q, k, v=v, time_budget_ms=cal["estimation_ms"] + cal["fixed_ms"] + 0.02)
        loose = sk.estimate_mask(q, k, v=v, time_budget_ms=100.0)
        assert tight.density() < loose.density() and loose.density() > 0.99
        o = sk.sparse_attention(q, k, v, time_budget_ms=1.0)
    assert torch.isfinite(o).all()


def test_torch_compile_has_no_graph_break(gpu):
    import torch._dynamo
    q, k, v = qkv(gpu)

    def f(q, k, v):
        return sk.sparse_attention(q * 1.0, k, v, epsilon=0.05) + 1

    with torch.no_grad():
        torch._dynamo.reset()
        explanation = torch._dynamo.explain(f)(q, k, v)
        print(f"torch._dynamo.explain: graphs {explanation.graph_count}, graph breaks {explanation.graph_break_count}")
        assert explanation.graph_break_count == 0 and explanation.graph_count == 1
        compiled = torch.compile(f, fullgraph=True)
        torch.testing.assert_close(compiled(q, k, v), f(q, k, v), rtol=0, atol=0)


def test_cuda_graph_capture_and_replay(gpu):
    q, k, v = qkv(gpu)
    static = [t.clone() for t in (q, k, v)]
    with torch.no_grad():
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):  # warm-up: kernels loaded, estimator arrays allocated
            sk.sparse_attention(*static, epsilon=0.05)
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = sk.sparse_attention(*static, epsilon=0.05)
        q2, k2, v2 = qkv(gpu, seed=21)
        for t, new in zip(static, (q2, k2, v2)):
            t.copy_(new)
        graph.replay()
        torch.cuda.synchronize()
        torch.testing.assert_close(out, sk.sparse_attention(q2, k2, v2, epsilon=0.05), rtol=0, atol=0)


def test_second_device(gpu):
    if torch.cuda.device_count() < 2:
        pytest.skip(f"one GPU only ({torch.cuda.device_count()})")
    q, k, v = qkv(gpu)
    dev1 = torch.device("cuda", 1)
    with torch.no_grad():
        o0 = sk.sparse_attention(q, k, v, epsilon=0.05)
        o1 = sk.sparse_attention(q.to(dev1), k.to(dev1), v.to(dev1), epsilon=0.05)
    assert o1.device == dev1 and torch.cuda.current_device() == 0
    torch.testing.assert_close(o1.cpu(), o0.cpu(), rtol=0, atol=0)


def test_opcheck_schema_and_fake_tensors(gpu):
    """torch.library.opcheck: the ops' schemas and fake implementations agree with the real ones."""
    q, k, v = qkv(gpu, b=2, n=700)
    for args in [(q, k, v, None, None, None, 0.0, 0, 128)]:
        torch.library.opcheck(torch.ops.sparse_skeleton.attention.default, args, test_utils=("test_schema", "test_faketensor"))
    torch.library.opcheck(torch.ops.sparse_skeleton.estimate_mask.default, (q, k, None, 0.0, 0, 0, 0, 0.05, 128),
                          test_utils=("test_schema", "test_faketensor"))
    qp, kp, vp = (t.reshape(1400, t.shape[2], t.shape[3]) for t in (q, k, v))
    torch.library.opcheck(torch.ops.sparse_skeleton.estimate_mask.default, (qp, kp, [0, 300, 1400], 0.0, 0, 0, 1, 0.3, 64),
                          test_utils=("test_schema", "test_faketensor"))
