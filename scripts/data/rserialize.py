"""Minimal reader of R's serialization format (XDR binary, format 'X'), written from the format's
description so that the project can read the Jane Austen novels out of the Debian package
r-cran-janeaustenr without installing R.

Format summary (R Internals, "Serialization formats"):
  stream   := b"X\\n" version:int writer:int minreader:int [nelen:int encoding:bytes (version 3)] item
  item     := flags:int payload        (all ints are 4-byte big-endian, doubles 8-byte big-endian)
  flags    := type (bits 0-7) | is_object (bit 8) | has_attr (bit 9) | has_tag (bit 10) | levels (bits 12-27)
  payload by type:
    NILVALUE (254) and the other special singletons: none
    REFSXP (255): index = flags >> 8 (or a following int when that is 0) into the table of
                  already-read symbols/environments (1-based)
    SYMSXP (1):   item (a CHARSXP, the name); the symbol joins the reference table
    LISTSXP (2), LANGSXP (6), ...: [attr item] [tag item] car item, cdr item (cdr is the rest of the list)
    CHARSXP (9):  length:int (-1 = NA) then that many bytes (encoding given by the levels bits)
    LGLSXP (10), INTSXP (13): length then ints; REALSXP (14): length then doubles
    STRSXP (16):  length then length CHARSXP items; VECSXP (19), EXPRSXP (20): length then items
    RAWSXP (24):  length then bytes
  Vector-like items are followed by their attribute pairlist when has_attr is set.
  A length of -1 on a vector means a 64-bit length follows as two ints (upper, lower).

Only what character data sets need is decoded; anything else raises RFormatError naming the type.
"""

import struct

NILVALUE_SXP = 254
REFSXP = 255
SINGLETONS = {253: "GlobalEnv", 252: "UnboundValue", 251: "MissingArg", 250: "BaseNamespace",
              242: "EmptyEnv", 241: "BaseEnv"}
SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 1, 2, 3, 4, 5, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP = 9, 10, 13, 14, 15, 16
VECSXP, EXPRSXP, RAWSXP, S4SXP = 19, 20, 24, 25
PAIRLIST_LIKE = {LISTSXP, CLOSXP, PROMSXP, LANGSXP, 17}

NA_INTEGER = -2**31
LATIN1_MASK, UTF8_MASK = 1 << 2, 1 << 3


class RFormatError(ValueError):
    """The byte stream is not R XDR serialization, or uses a part this reader does not decode."""


class RSymbol(str):
    """An R symbol (a name), kept distinct from character data."""


class RPairList(list):
    """An R pairlist: a list of (tag, value) pairs; the tag is None for untagged cells."""

    def as_dict(self):
        return {str(tag): value for tag, value in self}


class RVector(list):
    """An R vector (character, numeric or generic list) with its attributes (e.g. 'names')."""

    def __init__(self, values, attributes=None):
        super().__init__(values)
        self.attributes = attributes or {}

    def named(self):
        """The vector as a dict keyed by its 'names' attribute."""
        names = self.attributes.get("names")
        if names is None or len(names) != len(self):
            raise RFormatError("vector has no 'names' attribute of matching length")
        return dict(zip(names, self))


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.refs = []

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RFormatError(f"truncated stream: need {n} bytes at offset {self.pos}, have {len(self.data) - self.pos}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:
            upper, lower = self.int(), self.int()
            n = (upper << 32) | (lower & 0xFFFFFFFF)
        if n < 0:
            raise RFormatError(f"negative vector length {n} at offset {self.pos}")
        return n

    def item(self):
        flags = self.int()
        sxptype = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        levels = flags >> 12

        if sxptype == NILVALUE_SXP:
            return None
        if sxptype in SINGLETONS:
            return SINGLETONS[sxptype]
        if sxptype == REFSXP:
            index = flags >> 8
            if index == 0:
                index = self.int()
            if not 1 <= index <= len(self.refs):
                raise RFormatError(f"reference {index} outside the table of {len(self.refs)}")
            return self.refs[index - 1]
        if sxptype == SYMSXP:
            symbol = RSymbol(self.item())
            self.refs.append(symbol)
            return symbol
        if sxptype in PAIRLIST_LIKE:
            return self.pairlist(has_attr, has_tag)
        if sxptype == CHARSXP:
            return self.charsxp(levels)
        if sxptype in (LGLSXP, INTSXP):
            n = self.length()
            values = [None if v == NA_INTEGER else v for v in struct.unpack(f">{n}i", self.take(4 * n))]
            return self.attributed(values, has_attr)
        if sxptype == REALSXP:
            n = self.length()
            return self.attributed(list(struct.unpack(f">{n}d", self.take(8 * n))), has_attr)
        if sxptype == STRSXP:
            n = self.length()
            return self.attributed([self.item() for _ in range(n)], has_attr)
        if sxptype in (VECSXP, EXPRSXP):
            n = self.length()
            return self.attributed([self.item() for _ in range(n)], has_attr)
        if sxptype == RAWSXP:
            n = self.length()
            return self.attributed(self.take(n), has_attr)
        raise RFormatError(f"unsupported R type {sxptype} at offset {self.pos - 4} "
                           "(this reader decodes NULL, symbols, pairlists, character, logical, "
                           "integer, double, raw and list vectors)")

    def charsxp(self, levels: int):
        n = self.int()
        if n == -1:
            return None  # NA_character_
        raw = self.take(n)
        encoding = "latin-1" if levels & LATIN1_MASK else "utf-8"
        return raw.decode(encoding)

    def attributed(self, values, has_attr: bool):
        attributes = self.item().as_dict() if has_attr else {}
        return RVector(values, attributes)

    def pairlist(self, has_attr: bool, has_tag: bool) -> RPairList:
        """Pairlists are read iteratively (cdr chains can be thousands of cells long)."""
        cells = RPairList()
        while True:
            if has_attr:
                self.item()  # attributes of a pairlist cell: not needed
            tag = self.item() if has_tag else None
            cells.append((tag, self.item()))
            flags = self.int()
            sxptype = flags & 0xFF
            if sxptype == NILVALUE_SXP:
                return cells
            if sxptype not in PAIRLIST_LIKE:
                self.pos -= 4
                cells.append((None, self.item()))  # dotted pair: improper tail
                return cells
            has_attr = bool(flags & (1 << 9))
            has_tag = bool(flags & (1 << 10))


def unserialize(data: bytes):
    """Decode one R object from XDR serialization bytes (starting with b'X\\n')."""
    if data[:2] != b"X\n":
        raise RFormatError(f"not R XDR serialization (starts with {data[:2]!r}, expected b'X\\n')")
    reader = _Reader(data)
    reader.pos = 2
    version = reader.int()
    reader.int()  # writer's R version
    reader.int()  # minimal reader R version
    if version == 3:
        reader.take(reader.int())  # native encoding name
    elif version != 2:
        raise RFormatError(f"unsupported serialization version {version} (supported: 2, 3)")
    return reader.item()
