#!/usr/bin/env python3
"""Recompress PNG files in place (lossless): the image data is inflated, each row re-filtered (PNG
filter None, Sub or Up, whichever has the smallest sum of magnitudes) and deflated at zlib level 9.
skeleton's PNG writer (8-bit RGB) stores its pixels unfiltered and uncompressed; this makes the
committed examples small.

    python3 scripts/png_compress.py docs/examples/*.png
"""
import struct
import sys
import zlib


def chunks(data):
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        yield kind, data[pos + 8:pos + 8 + length]
        pos += 12 + length


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def refilter(raw, stride, height):
    out, previous = bytearray(), bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        if raw[start] != 0:
            sys.exit("rows are already filtered")
        row = raw[start + 1:start + 1 + stride]
        sub = bytes((row[i] - (row[i - 3] if i >= 3 else 0)) & 0xFF for i in range(stride))
        up = bytes((row[i] - previous[i]) & 0xFF for i in range(stride))
        cost = lambda r: sum(b if b < 128 else 256 - b for b in r)
        kind, best = min(((0, row), (1, sub), (2, up)), key=lambda c: cost(c[1]))
        out.append(kind)
        out += best
        previous = row
    return bytes(out)


def recompress(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    parts = list(chunks(data))
    width, height, depth, colour = struct.unpack(">IIBB", parts[0][1][:10])
    if (depth, colour) != (8, 2):
        sys.exit(f"{path}: only 8-bit RGB is handled")
    raw = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
    pixels = refilter(raw, width * 3, height)
    out = data[:8]
    for kind, body in parts:
        if kind == b"IDAT":
            continue
        if kind == b"IEND":
            out += chunk(b"IDAT", zlib.compress(pixels, 9))
        out += chunk(kind, body)
    open(path, "wb").write(out)
    print(f"{path}: {len(data)} -> {len(out)} bytes")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        recompress(p)
