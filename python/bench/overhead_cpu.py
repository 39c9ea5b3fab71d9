"""The Python host work of sparse_attention(q, k, v, mask=m) over the raw ctypes call it makes, on a
machine without a GPU (issue 13: ≤ 20 µs per call on the H200, hf_smollm2.py's `overhead_us`).

The library is replaced at the ctypes-function level by a C no-op with sk_attention_forward's
argtypes (built here with cc), so the raw call still pays ctypes' argument conversion and the
difference api − raw is the wrapper's own work, as on the GPU. CUDA is faked at torch's C
boundary only: tensors live on the CPU (CPU allocator instead of the caching one), `is_cuda` reads
True, and torch._C's current-device / current-stream getters return constants; torch's Python
around them (torch.cuda.current_stream, Stream objects, device objects) runs as on a GPU.
Numbers are host µs per call on this machine (min over repeats); compare before/after here,
not with the H200's.

    python python/bench/overhead_cpu.py [--n 8192] [--calls 3000] [--repeats 9]"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sparse_skeleton as sk  # noqa: E402
from sparse_skeleton import _lib  # noqa: E402


def noop_forward():
    """A C function returning 0, bound with sk_attention_forward's argtypes (x86-64/arm64: extra args are harmless)."""
    d = tempfile.mkdtemp(prefix="sk-noop-")
    src, so = os.path.join(d, "noop.c"), os.path.join(d, "libnoop.so")
    with open(src, "w") as f:
        f.write("int sk_noop(void) { return 0; }\n")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
    f = ctypes.CDLL(so).sk_noop
    f.argtypes = _lib._SIGNATURES["sk_attention_forward"]
    f.restype = ctypes.c_int
    return f


def fake_cuda():
    torch.Tensor.is_cuda = property(lambda self: True)
    torch.cuda._initialized = True  # torch.cuda._lazy_init returns at once, as after a first CUDA op
    torch._C._cuda_getDevice = lambda: -1  # CPU tensors' get_device() is -1: the "current device" agrees
    torch._C._cuda_getCurrentStream = lambda index: (0, index, 1)
    torch._C._cuda_getCurrentRawStream = lambda index: 0
    # torch.cuda.Stream(...) needs a driver: current_stream keeps its Python steps but returns a
    # plain object (so the old per-call current_stream() is timed low here: no Stream construction)
    from torch.cuda import _get_device_index, _lazy_init

    class FakeStream:
        __slots__ = ("cuda_stream",)

        def __init__(self, stream_id, device_index, device_type):
            self.cuda_stream = stream_id

    def current_stream(device=None):
        _lazy_init()
        s = torch._C._cuda_getCurrentStream(_get_device_index(device, optional=True))
        return FakeStream(stream_id=s[0], device_index=s[1], device_type=s[2])

    torch.cuda.current_stream = current_stream


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    fake_cuda()
    f = noop_forward()

    class FakeLib:
        sk_attention_forward = f

    _lib._lib, _lib._lib_path = FakeLib(), "noop"
    _lib._contexts[-1] = _lib._contexts[0] = 1
    n, hq, hkv, d = a.n, 9, 3, 64
    q, k, v = (torch.randn(1, n, h, d, dtype=torch.bfloat16) for h in (hq, hkv, hkv))
    ro = torch.zeros(hq * (n // 128) + 1, dtype=torch.int32)
    kb = torch.zeros(1, dtype=torch.int32)
    m = sk.Mask(ro, kb, (n,), hq, 128)
    o, lse = torch.empty_like(q), torch.empty(1, hq, n)
    err = ctypes.create_string_buffer(1024)
    args = (1, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr(), 1, n, None, hq, hkv, d, 0, 1, 0.0, 0,
            ro.data_ptr(), kb.data_ptr(), 128, 0, 0, 0, err, 1024)

    def raw():
        assert f(*args) == 0

    def api():
        sk.sparse_attention(q, k, v, mask=m)

    best = {"raw": float("inf"), "api": float("inf")}
    with torch.no_grad():
        for _ in range(a.repeats):
            for name, fn in (("raw", raw), ("api", api)):
                for _ in range(50):
                    fn()
                t0 = time.perf_counter()
                for _ in range(a.calls):
                    fn()
                best[name] = min(best[name], (time.perf_counter() - t0) / a.calls * 1e6)
    print(f"RESULT cpu_host_us_per_call n={n}: raw no-op ctypes {best['raw']:.2f}, sparse_attention(mask=) {best['api']:.2f}, "
          f"overhead {best['api'] - best['raw']:.2f} (torch {torch.__version__}, min of {a.repeats} × {a.calls})")


if __name__ == "__main__":
    main()
