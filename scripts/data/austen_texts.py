"""Extract the six Jane Austen novels from the r-cran-janeaustenr package data as UTF-8 texts.

The package's data/Rdata.rdx (gzip-compressed R serialization) is an index: a named list whose
'variables' entry maps each data set name to (offset, length) inside data/Rdata.rdb. At that offset
the .rdb holds a 4-byte big-endian uncompressed length followed by a zlib stream ('compressed' = 1)
of the serialized object: here a character vector with one element per line of the Project
Gutenberg text, empty strings between paragraphs.

Each novel is written as: the lines of a paragraph joined with single spaces, paragraphs separated by
one blank line ("\\n\\n"); runs of empty lines count as one break; leading/trailing spaces of each
line are stripped (the vectors keep Gutenberg's indentation of headings and verse).

Usage: python3 austen_texts.py <unpacked janeaustenr folder> <output folder>
"""

import gzip
import os
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rserialize import RFormatError, unserialize  # noqa: E402

FILE_NAMES = {
    "prideprejudice": "pride_and_prejudice.txt",
    "emma": "emma.txt",
    "sensesensibility": "sense_and_sensibility.txt",
    "mansfieldpark": "mansfield_park.txt",
    "northangerabbey": "northanger_abbey.txt",
    "persuasion": "persuasion.txt",
}


def read_index(rdx_path: str) -> dict:
    """Data set name -> (offset, length) in the .rdb."""
    with open(rdx_path, "rb") as f:
        index = unserialize(gzip.decompress(f.read())).named()
    if list(index.get("compressed", [])) not in ([1], [True]):
        raise RFormatError(f"{rdx_path}: only zlib-compressed databases are supported, got {index.get('compressed')}")
    return {name: tuple(span) for name, span in index["variables"].named().items()}


def read_object(rdb_path: str, offset: int, length: int):
    """One serialized object from the .rdb: big-endian raw length, then a zlib stream."""
    with open(rdb_path, "rb") as f:
        f.seek(offset)
        blob = f.read(length)
    if len(blob) != length:
        raise RFormatError(f"{rdb_path}: truncated at offset {offset} (wanted {length} bytes)")
    expected = struct.unpack(">I", blob[:4])[0]
    data = zlib.decompress(blob[4:])
    if len(data) != expected:
        raise RFormatError(f"{rdb_path}: object at {offset} inflates to {len(data)} bytes, header says {expected}")
    return unserialize(data)


def lines_to_text(lines) -> str:
    """Lines joined with spaces inside a paragraph; paragraphs separated by a blank line."""
    paragraphs, current = [], []
    for line in lines:
        line = (line or "").strip()
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs) + "\n"


def main(package_dir: str, out_dir: str) -> None:
    data_dir = os.path.join(package_dir, "data")
    index = read_index(os.path.join(data_dir, "Rdata.rdx"))
    missing = [name for name in FILE_NAMES if name not in index]
    if missing:
        raise RFormatError(f"janeaustenr data lacks {missing}; it has {sorted(index)}")
    os.makedirs(out_dir, exist_ok=True)
    for name, file_name in FILE_NAMES.items():
        lines = read_object(os.path.join(data_dir, "Rdata.rdb"), *index[name])
        if not all(isinstance(x, str) or x is None for x in lines):
            raise RFormatError(f"{name}: expected a character vector")
        text = lines_to_text(lines)
        with open(os.path.join(out_dir, file_name), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"  {file_name}: {len(lines)} lines -> {len(text)} characters")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    try:
        main(sys.argv[1], sys.argv[2])
    except (RFormatError, OSError, zlib.error) as error:
        sys.exit(f"error: janeaustenr extraction failed: {error}")
