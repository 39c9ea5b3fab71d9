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
    /// numpy's own cap on the header length (`max_header_size`), above which it refuses to parse.
    static let maxHeaderLength = 10_000
    static let maxPrefix = 12 + maxHeaderLength

    /// Where the elements are and what they are, from the header alone.
    struct Layout {
        let element: BinaryFile.ElementType
        let dims: (tokens: Int, heads: Int, headDim: Int)
        let dataStart: Int
        let dataLength: Int
    }

    /// Reads the header first and checks it against the file's size before loading the data.
    public static func read(path: String, name: String? = nil) throws -> HeadTensor {
        let file = try InputFile(path: path)
        let prefix = try file.read(offset: 0, count: min(file.size, maxPrefix))
        let layout = try parseHeader(prefix, fileSize: file.size, path: path)
        let data = try file.read(offset: layout.dataStart, count: layout.dataLength)
        return try BinaryFile.tensor(name: name ?? defaultName(path), dims: layout.dims, element: layout.element,
                                     bytes: data, offset: 0, path: path)
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
        let layout = try parseHeader(bytes, fileSize: bytes.count, path: path)
        return try BinaryFile.tensor(name: name, dims: layout.dims, element: layout.element,
                                     bytes: bytes, offset: layout.dataStart, path: path)
    }

    /// Validates magic, version, header and the data length as numpy's reader does: version 1.0, 2.0
    /// or 3.0; a header of at most `maxHeaderLength` bytes (latin-1, UTF-8 in 3.0) holding a dict
    /// with exactly 'descr', 'fortran_order' and 'shape'; then the data must be exactly the shape's
    /// element count × the dtype's size (a longer file is refused too: its tail would be ignored silently).
    /// `prefix` is the start of a file of `fileSize` bytes (at least the header, when the file has it).
    static func parseHeader(_ prefix: [UInt8], fileSize: Int, path p: String) throws -> Layout {
        let path = BoundedText.path(p)
        guard prefix.count >= 10, Array(prefix[0..<6]) == magic else {
            if prefix.count < 10, prefix.elementsEqual(magic.prefix(prefix.count)) {
                throw SkeletonError.fileTruncated(path: path, expectedBytes: 10, actualBytes: fileSize)
            }
            throw SkeletonError.invalidFileFormat(path: path, reason: "missing the .npy magic \\x93NUMPY")
        }
        let major = prefix[6], minor = prefix[7]
        let headerStart: Int, headerLength: Int
        switch (major, minor) {
        case (1, 0):
            headerStart = 10
            headerLength = Int(BinaryFile.readLE(prefix, at: 8, as: UInt16.self))
        case (2, 0), (3, 0):
            guard prefix.count >= 12 else {
                throw SkeletonError.fileTruncated(path: path, expectedBytes: 12, actualBytes: fileSize)
            }
            headerStart = 12
            headerLength = Int(BinaryFile.readLE(prefix, at: 8, as: UInt32.self))
        default:
            throw SkeletonError.invalidFileFormat(path: path, reason: "unsupported .npy version \(major).\(minor); supported: 1.0, 2.0, 3.0")
        }
        guard headerLength <= maxHeaderLength else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "the .npy header is \(headerLength) bytes; numpy refuses headers over \(maxHeaderLength)")
        }
        let dataStart = headerStart + headerLength
        guard dataStart <= prefix.count else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: dataStart, actualBytes: fileSize)
        }
        let raw = prefix[headerStart..<dataStart]
        let text: String
        if major == 3 {
            guard let t = String(validating: raw, as: UTF8.self) else {
                throw SkeletonError.invalidFileFormat(path: path, reason: "the .npy header is not UTF-8 text")
            }
            text = t
        } else {
            text = String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))  // latin-1
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
            throw SkeletonError.unsupportedDType("\(BoundedText.cut(header.descr)) (in \(path); .npy files must be '<f4', '<f2' or '<f8')")
        }
        let dims = try BinaryFile.headDims(header.shape, element: element, path: path, what: "the array")
        // headDims has checked that this product is representable
        let needed = dims.tokens * dims.heads * dims.headDim * element.byteSize
        let available = fileSize - dataStart
        guard available >= needed else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: needed, actualBytes: available)
        }
        guard available == needed else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "\(available - needed) bytes follow the \(needed) bytes of data that shape \(header.shape) holds")
        }
        return Layout(element: element, dims: dims, dataStart: dataStart, dataLength: needed)
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
        var seen = Set<String>()
        try scanner.expect("{")
        while true {
            scanner.skipSpace()
            if scanner.peek == "}" { break }
            let key = try scanner.string()
            try scanner.expect(":")
            guard seen.insert(key).inserted else { throw scanner.failure("duplicate key '\(BoundedText.cut(key))'") }
            switch key {
            case "descr": descr = try scanner.string()
            case "fortran_order": fortran = try scanner.bool()
            case "shape": shape = try scanner.intTuple()
            default: throw scanner.failure("unexpected key '\(BoundedText.cut(key))' in the .npy header")
            }
            scanner.skipSpace()
            if scanner.peek == "," { scanner.advance() } else if scanner.peek != "}" { throw scanner.failure("expected ',' or '}' at character \(scanner.index)") }
        }
        scanner.advance()
        scanner.skipSpace()
        guard scanner.peek == nil else { throw scanner.failure("text after the closing '}' at character \(scanner.index)") }
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
            guard !digits.isEmpty else { throw failure("expected a non-negative integer in the shape at character \(index)") }
            guard let v = Int(digits) else { throw failure("shape extent \(BoundedText.cut(digits)) is too large") }
            values.append(v)
            skipSpace()
            if peek == "," { advance() } else if peek != ")" { throw failure("expected ',' or ')' in the shape") }
        }
    }
}
