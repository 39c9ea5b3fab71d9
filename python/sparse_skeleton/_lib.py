"""The ctypes layer over libSparseSkeletonC.so (Sources/SparseSkeletonC/include/sparse_skeleton.h):
finding and checking the library, one context per CUDA device, status → exception. No torch here."""
import ctypes
import os
import threading

from ._version import ABI_VERSION

_ERR_LEN = 1024
LIBRARY_NAME = "libSparseSkeletonC.so"
ENV_OVERRIDE = "SPARSE_SKELETON_LIB"

_lib = None
_lib_path = None
_contexts = {}
_lock = threading.RLock()  # reentrant: context() holds it while call() may load the library


class SparseSkeletonError(RuntimeError):
    """A nonzero status from the C library (1 invalid argument, 2 no GPU/driver/NVRTC, 3 CUDA or
    compile error, 4 other), with its message."""

    def __init__(self, function, status, message):
        super().__init__(f"{function} failed (status {status}): {message}")
        self.status = status


class LibraryNotFound(OSError):
    pass


def library_candidates():
    """Where `load()` looks, in order: the package's own folder, then $SPARSE_SKELETON_LIB
    (an absolute path to the .so). Nothing else: no build or checkout folders."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, LIBRARY_NAME)]
    env = os.environ.get(ENV_OVERRIDE)
    if env:
        if not os.path.isabs(env):
            raise LibraryNotFound(f"${ENV_OVERRIDE} must be an absolute path to {LIBRARY_NAME}, got {env!r}")
        out.append(env)
    return out


_u64, _i32, _i64, _f64 = ctypes.c_uint64, ctypes.c_int, ctypes.c_int64, ctypes.c_double
_vp, _cp = ctypes.c_void_p, ctypes.c_char_p
_SIGNATURES = {
    "sk_context_create": [_i32, _vp, _cp, _i32],
    "sk_context_destroy": [_vp],
    "sk_context_device": [_vp],
    "sk_device_info": [_vp, _cp, _i32],
    "sk_mask_size": [_i32, _i32, _vp, _i32, _i32, _i32, _i32, _i32, _vp, _vp, _cp, _i32],
    "sk_workspace_size": [_i32, _i32, _vp, _i32, _i32, _i32, _i32, _i32, _vp, _cp, _i32],
    "sk_attention_forward": [_vp] + [_u64] * 5 + [_i32, _i32, _vp, _i32, _i32, _i32, _i32, _i32, _f64, _i32,
                                                  _u64, _u64, _i32, _u64, _i64, _u64, _cp, _i32],
    "sk_estimate_mask": [_vp, _u64, _u64, _i32, _i32, _vp, _i32, _i32, _i32, _i32, _i32, _f64, _i32,
                         _i32, _i32, _f64, _i32, _u64, _u64, _u64, _cp, _i32],
    "sk_calibrate_time_budget": [_vp, _u64, _u64, _u64, _i32, _i32, _i32, _i32, _i32, _i32, _u64,
                                 _vp, _vp, _vp, _cp, _i32],
}


def _bind(lib, path):
    if not hasattr(lib, "sk_abi_version"):
        raise LibraryNotFound(f"{path} has no sk_abi_version (ABI 1); this package needs ABI {ABI_VERSION}")
    lib.sk_abi_version.argtypes = []
    lib.sk_abi_version.restype = _i32
    found = lib.sk_abi_version()
    if found != ABI_VERSION:
        raise LibraryNotFound(f"{path} has ABI version {found}, this sparse_skeleton package needs {ABI_VERSION}: "
                              "install the wheel built with it (or rebuild the library)")
    for name, args in _SIGNATURES.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = _i32


def load(path=None):
    """Loads and checks the library once (`path`, else `library_candidates()`); returns the ctypes handle."""
    global _lib, _lib_path
    with _lock:
        if _lib is not None and path is None:
            return _lib
        candidates = [path] if path else library_candidates()
        for p in candidates:
            if p and os.path.exists(p):
                lib = ctypes.CDLL(p)
                _bind(lib, p)
                _lib, _lib_path = lib, p
                return lib
        raise LibraryNotFound(f"{LIBRARY_NAME} not found (looked in: {', '.join(candidates)}); install the "
                              f"sparse-skeleton wheel (pip install ./python builds it) or set ${ENV_OVERRIDE} to the library's absolute path")


def library_path():
    load()
    return _lib_path


_errors = threading.local()


def call(name, *args):
    """Calls `name` with this thread's error buffer appended; raises SparseSkeletonError on a nonzero status."""
    err = getattr(_errors, "buffer", None)
    if err is None:
        err = _errors.buffer = ctypes.create_string_buffer(_ERR_LEN)
    status = getattr(_lib or load(), name)(*args, err, _ERR_LEN)
    if status != 0:
        raise SparseSkeletonError(name, status, err.value.decode("utf-8", "replace"))


def context(device_index):
    """The library context of CUDA device `device_index` (created once, kept for the process)."""
    ctx = _contexts.get(device_index)
    if ctx is None:
        load()  # before taking the lock (a first call in the process loads the library here)
        with _lock:
            ctx = _contexts.get(device_index)
            if ctx is None:
                out = ctypes.c_void_p(0)
                call("sk_context_create", int(device_index), ctypes.byref(out))
                ctx = _contexts[device_index] = out.value
    return ctx


def device_info(device_index=0):
    buf = ctypes.create_string_buffer(_ERR_LEN)
    status = load().sk_device_info(context(device_index), buf, _ERR_LEN)
    if status != 0:
        raise SparseSkeletonError("sk_device_info", status, buf.value.decode("utf-8", "replace"))
    return buf.value.decode()


def host_offsets(cu_seqlens):
    """A ctypes int32 array of host offsets (or None)."""
    if cu_seqlens is None:
        return None
    return (ctypes.c_int32 * len(cu_seqlens))(*cu_seqlens)


def mask_size(batch, tokens, cu_seqlens, q_heads, kv_heads, head_dim, dtype_code, query_tile):
    """(rowOffsets, keyBlocks) element counts from the library (see geometry.mask_counts)."""
    ro, kb = ctypes.c_int64(0), ctypes.c_int64(0)
    call("sk_mask_size", batch, tokens, host_offsets(cu_seqlens), q_heads, kv_heads, head_dim, dtype_code, query_tile,
         ctypes.byref(ro), ctypes.byref(kb))
    return ro.value, kb.value
