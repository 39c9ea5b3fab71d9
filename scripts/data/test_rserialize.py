"""Tests of rserialize.py and austen_texts.lines_to_text on hand-built R XDR streams.
Run: python3 -m unittest discover -s scripts/data -p 'test_*.py'"""

import struct
import unittest
import zlib

from austen_texts import lines_to_text
from rserialize import RFormatError, unserialize

NIL = 254


def i32(*values):
    return b"".join(struct.pack(">i", v) for v in values)


def charsxp(text, utf8=True):
    if text is None:
        return i32(9, -1)
    raw = text.encode("utf-8" if utf8 else "latin-1")
    levels = (1 << 3) if utf8 else (1 << 2)
    return i32(9 | (levels << 12), len(raw)) + raw


def header(version=3):
    out = b"X\n" + i32(version, 0x040200, 0x030500)
    if version == 3:
        out += i32(5) + b"UTF-8"
    return out


def strsxp(items, attributes=b""):
    flags = 16 | ((1 << 9) if attributes else 0)
    return i32(flags, len(items)) + b"".join(charsxp(s) for s in items) + attributes


def names_attribute(names):
    # pairlist cell with tag: flags LISTSXP | has_tag; tag = SYMSXP "names"; value; then NIL
    return i32(2 | (1 << 10)) + i32(1) + charsxp("names") + strsxp(names) + i32(NIL)


class RSerializeTests(unittest.TestCase):
    def test_character_vector_with_na_and_encodings(self):
        stream = header() + i32(16, 4) + charsxp("a") + charsxp(None) + charsxp("café") + charsxp("Zürich", utf8=False)
        self.assertEqual(list(unserialize(stream)), ["a", None, "café", "Zürich"])

    def test_named_list_of_integer_and_double_vectors(self):
        ints = i32(13, 3, 7, -2**31, 42)
        reals = i32(14, 2) + struct.pack(">2d", 1.5, -0.25)
        stream = header(2) + i32(19 | (1 << 9), 2) + ints + reals + names_attribute(["n", "x"])
        value = unserialize(stream).named()
        self.assertEqual(list(value["n"]), [7, None, 42])
        self.assertEqual(list(value["x"]), [1.5, -0.25])

    def test_symbol_reference_reuses_the_symbol(self):
        # list(a = "x", b = "y") written as a pairlist whose second tag refers back to symbol 1
        cell1 = i32(2 | (1 << 10)) + i32(1) + charsxp("a") + strsxp(["x"])
        cell2 = i32(2 | (1 << 10)) + i32(255 | (1 << 8)) + strsxp(["y"]) + i32(NIL)
        value = unserialize(header() + cell1 + cell2)
        self.assertEqual([(str(t), list(v)) for t, v in value], [("a", ["x"]), ("a", ["y"])])

    def test_long_length_vector_header(self):
        stream = header() + i32(16, -1, 0, 2) + charsxp("p") + charsxp("q")
        self.assertEqual(list(unserialize(stream)), ["p", "q"])

    def test_errors_name_the_problem(self):
        with self.assertRaisesRegex(RFormatError, "not R XDR"):
            unserialize(b"A\n" + i32(3))
        with self.assertRaisesRegex(RFormatError, "truncated"):
            unserialize(header() + i32(16, 3) + charsxp("only one"))
        with self.assertRaisesRegex(RFormatError, "unsupported R type 4"):
            unserialize(header() + i32(4, 0))
        with self.assertRaisesRegex(RFormatError, "version 7"):
            unserialize(b"X\n" + i32(7, 0, 0))

    def test_rdb_style_zlib_object_round_trip(self):
        payload = header() + strsxp(["line"])
        blob = struct.pack(">I", len(payload)) + zlib.compress(payload)
        self.assertEqual(list(unserialize(zlib.decompress(blob[4:]))), ["line"])


class LinesToTextTests(unittest.TestCase):
    def test_paragraphs_and_blank_runs(self):
        lines = ["CHAPTER 1", "", "", "  It is a truth ", "universally acknowledged.", None, "", "End"]
        self.assertEqual(lines_to_text(lines), "CHAPTER 1\n\nIt is a truth universally acknowledged.\n\nEnd\n")


if __name__ == "__main__":
    unittest.main()
