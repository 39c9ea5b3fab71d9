/// The validated header of a safetensors file, parsed by a typed reader (not a generic JSON tree,
/// which takes tens of bytes per header byte) to the format's rules:
///
/// - the header is at most `maxLength` (100 MB) bytes of UTF-8 JSON starting with '{', an object
///   whose keys are unique; "__metadata__" maps strings to strings (or is null); every other key is
///   a tensor `{"dtype": D, "shape": [...], "data_offsets": [begin, end]}` with exactly those fields;
/// - dtype is one the format defines; shape and offsets are non-negative JSON integers (no sign,
///   fraction or exponent); the element count × the dtype's size is representable and equals end − begin;
/// - sorted by offsets, the tensors follow each other from 0 without holes or overlap and end exactly
///   at the end of the byte buffer (so no byte is unaccounted for and no two tensors alias).
struct SafetensorsHeader {
    static let maxLength = 100_000_000

    /// One tensor, stored compactly: shapes of rank ≤ 4 are kept inline (rank > 4 keeps only the rank).
    struct Slot {
        let name: String
        let dtype: SafetensorsDType
        let rank: Int
        let dims: (Int, Int, Int, Int)
        let begin: Int
        let end: Int

        var shape: [Int]? {
            guard rank <= 4 else { return nil }
            return Array([dims.0, dims.1, dims.2, dims.3].prefix(rank))
        }
    }

    let slots: [Slot]

    /// Parses and validates `header` (the N bytes after the length) for a byte buffer of `bufferLength` bytes.
    init(_ header: ArraySlice<UInt8>, bufferLength: Int, path: String) throws {
        var reader = HeaderReader(bytes: header, path: path)
        slots = try reader.readTop()
        try Self.checkLayout(slots, bufferLength: bufferLength, path: path)
    }

    static func failure(_ path: String, _ reason: String) -> SkeletonError {
        .invalidFileFormat(path: path, reason: reason)
    }

    static func checkLayout(_ slots: [Slot], bufferLength: Int, path: String) throws {
        var byName = Array(slots.indices)
        byName.sort { slots[$0].name.utf8.lexicographicallyPrecedes(slots[$1].name.utf8) }
        for (a, b) in zip(byName, byName.dropFirst()) where slots[a].name.utf8.elementsEqual(slots[b].name.utf8) {
            throw failure(path, "tensor '\(BoundedText.cut(slots[a].name))' appears twice in the header")
        }
        var order = Array(slots.indices)
        order.sort { (slots[$0].begin, slots[$0].end) < (slots[$1].begin, slots[$1].end) }
        var expected = 0
        for i in order {
            let s = slots[i]
            let name = BoundedText.cut(s.name)
            guard s.end >= s.begin else {
                throw failure(path, "tensor '\(name)' has data_offsets [\(s.begin), \(s.end)]: end before begin")
            }
            guard s.begin == expected else {
                throw failure(path, s.begin < expected
                    ? "tensor '\(name)' at data_offsets [\(s.begin), \(s.end)] overlaps the tensor before it (which ends at \(expected))"
                    : "the byte buffer has a hole: bytes \(expected)..<\(s.begin) belong to no tensor (before '\(name)')")
            }
            expected = s.end
        }
        guard expected == bufferLength else {
            if expected > bufferLength {
                throw SkeletonError.fileTruncated(path: path, expectedBytes: expected, actualBytes: bufferLength)
            }
            throw failure(path, "the tensors cover \(expected) bytes of the \(bufferLength)-byte buffer; the rest belongs to no tensor")
        }
    }
}

/// The element types of the safetensors format and their sizes in bits.
enum SafetensorsDType: UInt8, CaseIterable {
    case bool, u8, i8, f8e5m2, f8e4m3, f8e8m0, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64, f4, f6e2m3, f6e3m2

    var name: String {
        switch self {
        case .bool: return "BOOL"
        case .u8: return "U8"
        case .i8: return "I8"
        case .f8e5m2: return "F8_E5M2"
        case .f8e4m3: return "F8_E4M3"
        case .f8e8m0: return "F8_E8M0"
        case .i16: return "I16"
        case .u16: return "U16"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i32: return "I32"
        case .u32: return "U32"
        case .f32: return "F32"
        case .f64: return "F64"
        case .i64: return "I64"
        case .u64: return "U64"
        case .f4: return "F4"
        case .f6e2m3: return "F6_E2M3"
        case .f6e3m2: return "F6_E3M2"
        }
    }

    var bits: Int {
        switch self {
        case .f4: return 4
        case .f6e2m3, .f6e3m2: return 6
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .f64, .i64, .u64: return 64
        }
    }

    static let byName: [String: SafetensorsDType] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// The element type this project reads into a HeadTensor, if any.
    var element: BinaryFile.ElementType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        default: return nil
        }
    }
}

/// A strict reader of the JSON subset a safetensors header uses.
private struct HeaderReader {
    let bytes: ArraySlice<UInt8>
    let path: String
    var i: Int

    init(bytes: ArraySlice<UInt8>, path: String) {
        self.bytes = bytes
        self.path = path
        i = bytes.startIndex
    }

    func fail(_ reason: String) -> SkeletonError {
        .invalidFileFormat(path: path, reason: "the safetensors JSON header is invalid: \(reason) (at header byte \(i - bytes.startIndex))")
    }

    var peek: UInt8? { i < bytes.endIndex ? bytes[i] : nil }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
    }

    mutating func expect(_ c: UInt8, _ what: String) throws {
        skipSpace()
        guard peek == c else { throw fail("expected \(what)") }
        i += 1
    }

    /// Calls `body` with each key of an object (the reader then stands before its value).
    mutating func object(_ body: (inout HeaderReader, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "'{'")
        skipSpace()
        if peek == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            let key = try string()
            try expect(UInt8(ascii: ":"), "':' after a key")
            try body(&self, key)
            skipSpace()
            guard let c = peek else { throw fail("unterminated object") }
            i += 1
            if c == UInt8(ascii: "}") { return }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
        }
    }

    mutating func array(_ body: (inout HeaderReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["), "'['")
        skipSpace()
        if peek == UInt8(ascii: "]") { i += 1; return }
        while true {
            try body(&self)
            skipSpace()
            guard let c = peek else { throw fail("unterminated array") }
            i += 1
            if c == UInt8(ascii: "]") { return }
            guard c == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
        }
    }

    mutating func string() throws -> String {
        skipSpace()
        guard peek == UInt8(ascii: "\"") else { throw fail("expected a string") }
        i += 1
        let start = i
        // fast path: no escapes
        while let c = peek, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
            guard c >= 0x20 else { throw fail("control character in a string") }
            i += 1
        }
        guard let c = peek else { throw fail("unterminated string") }
        if c == UInt8(ascii: "\"") {
            defer { i += 1 }
            return try utf8(bytes[start..<i])
        }
        var out = Array(bytes[start..<i])
        while true {
            guard let c = peek else { throw fail("unterminated string") }
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("control character in a string") }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = peek else { throw fail("unterminated string") }
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard peek == UInt8(ascii: "\\") else { throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))") }
                    i += 1
                    guard peek == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                    i += 1
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate \\u\(String(scalar, radix: 16))")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
        }
        return try utf8(out[...])
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek, let d = Character(Unicode.Scalar(c)).hexDigitValue else { throw fail("bad \\u escape") }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    func utf8(_ raw: ArraySlice<UInt8>) throws -> String {
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("a string is not valid UTF-8") }
        return s
    }

    /// A non-negative JSON integer (the format's usize); signs, fractions and exponents are refused.
    mutating func unsignedInteger(_ what: String) throws -> Int {
        skipSpace()
        let start = i
        guard let first = peek else { throw fail("expected \(what)") }
        if first == UInt8(ascii: "-") { throw fail("\(what) is negative") }
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw fail("expected \(what) as an integer") }
        var v = 0
        var overflow = false
        while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
            if !overflow, let next = CheckedMath.multiply(v, 10).flatMap({ CheckedMath.add($0, Int(c - 48)) }) { v = next } else { overflow = true }
            i += 1
        }
        if let c = peek, c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            throw fail("\(what) is not an integer")
        }
        if first == UInt8(ascii: "0"), i - start > 1 { throw fail("\(what) has a leading zero") }
        if overflow { throw fail("\(what) \(BoundedText.cut(String(decoding: bytes[start..<i], as: UTF8.self))) is too large") }
        return v
    }

    mutating func readTop() throws -> [SafetensorsHeader.Slot] {
        guard peek == UInt8(ascii: "{") else { throw fail("the header must start with '{'") }
        var slots: [SafetensorsHeader.Slot] = []
        var sawMetadata = false
        try object { r, key in
            if key == "__metadata__" {
                guard !sawMetadata else { throw r.fail("'__metadata__' appears twice") }
                sawMetadata = true
                try r.metadata()
            } else {
                slots.append(try r.tensor(key))
            }
        }
        skipSpace()
        guard peek == nil else { throw fail("text after the header object") }
        return slots
    }

    mutating func metadata() throws {
        skipSpace()
        if bytes[i...].starts(with: "null".utf8) { i += 4; return }
        var keys = Set<String>()
        try object { r, key in
            guard keys.insert(key).inserted else { throw r.fail("metadata key '\(BoundedText.cut(key))' appears twice") }
            _ = try r.string()
        }
    }

    mutating func tensor(_ name: String) throws -> SafetensorsHeader.Slot {
        let label = "tensor '\(BoundedText.cut(name))'"
        var dtype: SafetensorsDType?
        var shape: (rank: Int, dims: (Int, Int, Int, Int), count: Int)?
        var offsets: (Int, Int)?
        try object { r, field in
            switch field {
            case "dtype":
                guard dtype == nil else { throw r.fail("\(label) has two 'dtype' fields") }
                let d = try r.string()
                guard let t = SafetensorsDType.byName[d] else {
                    throw r.fail("\(label) has dtype '\(BoundedText.cut(d))', which the format does not define")
                }
                dtype = t
            case "shape":
                guard shape == nil else { throw r.fail("\(label) has two 'shape' fields") }
                var dims = [0, 0, 0, 0], rank = 0, count: Int? = 1
                try r.array { r in
                    let e = try r.unsignedInteger("a shape extent of \(label)")
                    if rank < 4 { dims[rank] = e }
                    rank += 1
                    count = count.flatMap { CheckedMath.multiply($0, e) }
                }
                guard let count else { throw r.fail("\(label) has more elements than can be counted") }
                shape = (rank, (dims[0], dims[1], dims[2], dims[3]), count)
            case "data_offsets":
                guard offsets == nil else { throw r.fail("\(label) has two 'data_offsets' fields") }
                var values: [Int] = []
                try r.array { r in
                    guard values.count < 2 else { throw r.fail("\(label) has more than two data_offsets") }
                    values.append(try r.unsignedInteger("a data offset of \(label)"))
                }
                guard values.count == 2 else { throw r.fail("\(label) needs two data_offsets [begin, end]") }
                offsets = (values[0], values[1])
            default:
                throw r.fail("\(label) has an unknown field '\(BoundedText.cut(field))' (expected dtype, shape, data_offsets)")
            }
        }
        guard let dtype, let shape, let offsets else {
            throw fail("\(label) lacks one of dtype, shape, data_offsets")
        }
        guard let bits = CheckedMath.multiply(shape.count, dtype.bits) else {
            throw fail("\(label): the byte size of \(shape.count) \(dtype.name) elements overflows")
        }
        guard bits % 8 == 0 else { throw fail("\(label): \(shape.count) \(dtype.name) elements are not a whole number of bytes") }
        guard offsets.1 >= offsets.0, offsets.1 - offsets.0 == bits / 8 else {
            throw fail("\(label) has data_offsets [\(offsets.0), \(offsets.1)] but \(shape.count) \(dtype.name) elements take \(bits / 8) bytes")
        }
        return .init(name: name, dtype: dtype, rank: shape.rank, dims: shape.dims, begin: offsets.0, end: offsets.1)
    }
}
