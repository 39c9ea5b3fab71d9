#!/usr/bin/env python3
"""Writes a smaller copy of the flashinfer-python wheel for the GPU machine (a call carries at most 64 MiB):
the same files except the CUDA sources of other kernels (flashinfer/data/csrc/<subfolder>/: MoE, MLA, GDN,
Blackwell, ...). Block-sparse prefill JIT-compiles only the top-level csrc files (batch_prefill*), the
headers in data/include, cutlass and cccl, all kept. RECORD is rewritten to list what is left.
    trim_flashinfer_wheel.py IN.whl OUT.whl"""
import base64, hashlib, sys, zipfile

src, dst = sys.argv[1], sys.argv[2]
CSRC = "flashinfer/data/csrc/"


def dropped(name):
    return name.startswith(CSRC) and "/" in name[len(CSRC):]


with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
    record_name = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
    rows, kept, skipped = [], 0, 0
    for info in zin.infolist():
        if info.filename == record_name:
            continue
        if dropped(info.filename):
            skipped += 1
            continue
        data = zin.read(info.filename)
        zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{info.filename},sha256={digest},{len(data)}")
        kept += 1
    rows.append(f"{record_name},,")
    zout.writestr(record_name, "\n".join(rows) + "\n")
print(f"{dst}: kept {kept} files, dropped {skipped} under {CSRC}<subfolder>/")
