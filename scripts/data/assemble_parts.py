"""Assemble a file from chunk files, each checked by size and sha256, and check the whole.

Usage: python3 assemble_parts.py <output> <expected sha256> <part>=<size>:<sha256> ...
Every part is checked before anything is written; the output is written to <output>.partial and
renamed into place only when its sha256 matches, so an interrupted or failed run leaves no file.
Exits non-zero with one line naming the first part (or the whole) that does not match.
"""

import hashlib
import os
import sys


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_part(path: str, size: int, sha: str) -> None:
    name = os.path.basename(path)
    found = os.path.getsize(path)
    if found < size:
        raise ValueError(f"part {name} is truncated: {found} bytes, expected {size}")
    if found != size:
        raise ValueError(f"part {name} has {found} bytes, expected {size}")
    got = sha256_of(path)
    if got != sha:
        raise ValueError(f"part {name}: sha256 {got} differs from the recorded {sha}")


def assemble(output: str, expected: str, parts: list[tuple[str, int, str]]) -> None:
    for path, size, sha in parts:
        check_part(path, size, sha)
    partial = output + ".partial"
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for path, _, _ in parts:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != expected:
        os.remove(partial)
        raise ValueError(f"assembled {os.path.basename(output)}: sha256 {digest.hexdigest()} differs from the listed {expected}")
    os.replace(partial, output)


def parse_part(arg: str) -> tuple[str, int, str]:
    path, _, spec = arg.rpartition("=")
    size, _, sha = spec.partition(":")
    if not path or not size.isdigit() or len(sha) != 64:
        raise ValueError(f"bad part argument {arg!r}: expected <path>=<size>:<sha256>")
    return path, int(size), sha


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: python3 assemble_parts.py <output> <expected sha256> <part>=<size>:<sha256> ...")
    try:
        assemble(sys.argv[1], sys.argv[2], [parse_part(a) for a in sys.argv[3:]])
    except (OSError, ValueError) as error:
        sys.exit(f"error: {error}")
