/// NumPy `.npy` files holding one [N, heads, headDim] tensor (rank 4 [1, N, heads, headDim] is
/// accepted on read).
///
/// Format (numpy.lib.format): the 6 bytes "\u{93}NUMPY", a major and minor version byte, the header
/// length (u16 LE in version 1.0, u32 LE in 2.0 and 3.0), then an ASCII Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (N, H, D), }` padded with spaces and ending in
/// '\n' so the data starts on a 64-byte boundary, then the raw C-order elements.
///
/// Read: descr '<f4', '<f2' or '<f8' (f8 is narrowed to f32); big-endian, other kinds, Fortran order,
/// wrong rank, bad magic, a malformed header or missing data give `invalidFileFormat`,
/// `unsupportedDType` or `fileTruncated` naming the problem.
/// Write: f32 as '<f4', f16 as '<f2'; bf16 (which .npy cannot express) is widened exactly to '<f4'.
/// Version 1.0 unless the header needs more than 65535 bytes (then 2.0).
public enum NPYFile {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(path: String, name: String? = nil) throws -> HeadTensor {
        try decode(BinaryFile.read(path), path: path, name: name ?? defaultName(path))
    }

    public static func write(_ tensor: HeadTensor, to path: String) throws {
        try BinaryFile.write(encode(tensor), to: path)
    }

    /// The tensor name used when none is given: the file name without directory and extension.
    static func defaultName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".npy") ? String(file.dropLast(4)) : file
    }

    public static func decode(_ bytes: [UInt8], path: String, name: String) throws -> HeadTensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "missing the .npy magic \\x93NUMPY")
        }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(BinaryFile.readLE(bytes, at: 8, as: UInt16.self))
        case 2, 3:
            guard bytes.count >= 12 else {
                throw SkeletonError.fileTruncated(path: path, expectedBytes: 12, actualBytes: bytes.count)
            }
            headerStart = 12
            headerLength = Int(BinaryFile.readLE(bytes, at: 8, as: UInt32.self))
        default:
            throw SkeletonError.invalidFileFormat(path: path, reason: "unsupported .npy version \(major).\(bytes[7])")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: headerStart + headerLength, actualBytes: bytes.count)
        }
        guard let text = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the .npy header is not text")
        }
        let header = try NPYHeader.parse(text, path: path)
        guard !header.fortranOrder else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "Fortran order (column-major) arrays are not supported; save with C order")
        }
        let element: BinaryFile.ElementType
        switch header.descr {
        case "<f4": element = .f32
        case "<f2": element = .f16
        case "<f8": element = .f64
        case ">f4", ">f2", ">f8":
            throw SkeletonError.invalidFileFormat(path: path, reason: "big-endian dtype '\(header.descr)'; only little-endian is supported")
        default:
            throw SkeletonError.unsupportedDType("\(header.descr) (in \(path); .npy files must be '<f4', '<f2' or '<f8')")
        }
        let dims = try BinaryFile.headDims(header.shape, path: path, what: "the array")
        let dataStart = headerStart + headerLength
        let needed = dims.tokens * dims.heads * dims.headDim * element.byteSize
        guard bytes.count - dataStart >= needed else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: needed, actualBytes: bytes.count - dataStart)
        }
        return try BinaryFile.tensor(name: name, dims: dims, element: element, bytes: bytes, offset: dataStart)
    }

    public static func encode(_ tensor: HeadTensor) -> [UInt8] {
        let data: [UInt8]
        let descr: String
        switch tensor.dtype {
        case .f32: descr = "<f4"; data = BinaryFile.elementBytes(tensor)
        case .f16: descr = "<f2"; data = BinaryFile.elementBytes(tensor)
        case .bf16:
            // widening bf16 → f32 is exact: the bf16 bits are the high half of the f32
            descr = "<f4"
            var bytes = [UInt8]()
            if case .bits16(let bits) = tensor.storage {
                bytes.reserveCapacity(bits.count * 4)
                for b in bits { BinaryFile.appendLE(&bytes, UInt32(b) << 16) }
            }
            data = bytes
        }
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(tensor.tokens), \(tensor.heads), \(tensor.headDim)), }"
        // pad so magic + version + length + header (with its '\n') is a multiple of 64
        let version1 = (10 + dict.utf8.count + 1 + 63) / 64 * 64 - 10 <= Int(UInt16.max)
        let prefix = version1 ? 10 : 12
        let total = (prefix + dict.utf8.count + 1 + 63) / 64 * 64
        dict += String(repeating: " ", count: total - prefix - dict.utf8.count - 1) + "\n"
        var out = magic + [version1 ? 1 : 2, 0]
        if version1 { BinaryFile.appendLE(&out, UInt16(dict.utf8.count)) } else { BinaryFile.appendLE(&out, UInt32(dict.utf8.count)) }
        out += Array(dict.utf8)
        out += data
        return out
    }
}

/// The parsed dict of a .npy header.
struct NPYHeader {
    let descr: String
    let fortranOrder: Bool
    let shape: [Int]

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }` — keys in any order,
    /// single or double quotes, optional trailing commas and whitespace.
    static func parse(_ text: String, path: String) throws -> NPYHeader {
        var scanner = LiteralScanner(text: Array(text.unicodeScalars), path: path)
        var descr: String?, fortran: Bool?, shape: [Int]?
        try scanner.expect("{")
        while true {
            scanner.skipSpace()
            if scanner.peek == "}" { break }
            let key = try scanner.string()
            try scanner.expect(":")
            switch key {
            case "descr": descr = try scanner.string()
            case "fortran_order": fortran = try scanner.bool()
            case "shape": shape = try scanner.intTuple()
            default: throw scanner.failure("unexpected key '\(key)' in the .npy header")
            }
            scanner.skipSpace()
            if scanner.peek == "," { scanner.advance() }
        }
        guard let descr, let fortran, let shape else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the .npy header lacks one of 'descr', 'fortran_order', 'shape'")
        }
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }
}

/// A minimal scanner for the Python literals that appear in .npy headers.
struct LiteralScanner {
    let text: [Unicode.Scalar]
    let path: String
    var index = 0

    var peek: Unicode.Scalar? { index < text.count ? text[index] : nil }
    mutating func advance() { index += 1 }
    mutating func skipSpace() { while let c = peek, c == " " || c == "\n" || c == "\t" || c == "\r" { advance() } }

    func failure(_ reason: String) -> SkeletonError {
        .invalidFileFormat(path: path, reason: "malformed .npy header: \(reason)")
    }

    mutating func expect(_ c: Unicode.Scalar) throws {
        skipSpace()
        guard peek == c else { throw failure("expected '\(c)' at character \(index)") }
        advance()
    }

    mutating func string() throws -> String {
        skipSpace()
        guard let quote = peek, quote == "'" || quote == "\"" else { throw failure("expected a quoted string at character \(index)") }
        advance()
        var s = ""
        while let c = peek, c != quote { s.unicodeScalars.append(c); advance() }
        guard peek == quote else { throw failure("unterminated string") }
        advance()
        return s
    }

    mutating func bool() throws -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] {
            let w = Array(word.unicodeScalars)
            if index + w.count <= text.count, Array(text[index..<(index + w.count)]) == w {
                index += w.count
                return value
            }
        }
        throw failure("expected True or False at character \(index)")
    }

    mutating func intTuple() throws -> [Int] {
        try expect("(")
        var values: [Int] = []
        while true {
            skipSpace()
            if peek == ")" { advance(); return values }
            var digits = ""
            while let c = peek, ("0"..."9").contains(c) { digits.unicodeScalars.append(c); advance() }
            guard let v = Int(digits) else { throw failure("expected an integer in the shape at character \(index)") }
            values.append(v)
            skipSpace()
            if peek == "," { advance() } else if peek != ")" { throw failure("expected ',' or ')' in the shape") }
        }
    }
}
