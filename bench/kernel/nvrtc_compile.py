#!/usr/bin/env python3
"""Compiles a kernel source here (CPU only) as the Swift KernelCompiler does (the shared headers of
Kernels/ and the parameter structs' include/ passed to NVRTC by name, the same NVRTC options) and prints ptxas's register/spill report;
--sass FILE writes the disassembly (needs nvdisasm, e.g. from the nvidia-cuda-nvdisasm wheel).
usage: nvrtc_compile.py SOURCE.cu [-D K=V ...] [--sass out.sass] [--cubin out.cubin] [--ptx out.ptx]"""
import ctypes, glob, os, subprocess, sys

def main():
    args = sys.argv[1:]
    src = args.pop(0)
    defines, sass, cubin_out, ptx_out = [], None, None, None
    while args:
        a = args.pop(0)
        if a == "-D": defines.append(args.pop(0))
        elif a == "--sass": sass = args.pop(0)
        elif a == "--cubin": cubin_out = args.pop(0)
        elif a == "--ptx": ptx_out = args.pop(0)
        else: defines.append(a[2:] if a.startswith("-D") else a)
    root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
    kdir = root + "/Sources/SparseSkeletonCUDA/Kernels"
    lib = glob.glob(root + "/data/nvrtc/nvidia/cu*/lib/libnvrtc.so.*")[0]
    nv = ctypes.CDLL(lib)
    text = open(src).read()
    hdirs = [kdir, root + "/Sources/SparseSkeletonKernelParams/include"]
    hfiles = [d + "/" + f for d in hdirs for f in sorted(os.listdir(d)) if f.endswith((".cuh", ".h"))]
    hnames = (ctypes.c_char_p * len(hfiles))(*[os.path.basename(f).encode() for f in hfiles])
    htexts = (ctypes.c_char_p * len(hfiles))(*[open(f).read().encode() for f in hfiles])
    opts = ["--gpu-architecture=sm_90a", "-std=c++17", "--ptxas-options=-v", "-lineinfo", "--use_fast_math"]
    opts += ["-D" + d for d in sorted(defines)]
    prog = ctypes.c_void_p()
    assert nv.nvrtcCreateProgram(ctypes.byref(prog), text.encode(), os.path.basename(src).encode(), len(hfiles), htexts, hnames) == 0
    carr = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    rc = nv.nvrtcCompileProgram(prog, len(opts), carr)
    n = ctypes.c_size_t()
    nv.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value)
    nv.nvrtcGetProgramLog(prog, buf)
    log = buf.value.decode()
    print("\n".join(l for l in log.splitlines() if l.strip()))
    if rc != 0:
        sys.exit("compile failed")
    if ptx_out:
        nv.nvrtcGetPTXSize(prog, ctypes.byref(n))
        pb = ctypes.create_string_buffer(n.value)
        nv.nvrtcGetPTX(prog, pb)
        open(ptx_out, "w").write(pb.value.decode())
    nv.nvrtcGetCUBINSize(prog, ctypes.byref(n))
    cb = ctypes.create_string_buffer(n.value)
    nv.nvrtcGetCUBIN(prog, cb)
    path = cubin_out or "/tmp/k.cubin"
    open(path, "wb").write(cb.raw)
    if sass:
        dis = os.environ.get("NVDISASM", "nvdisasm")
        with open(sass, "w") as f:
            subprocess.run([dis, "-c", "-g", path], stdout=f, check=True)

main()
