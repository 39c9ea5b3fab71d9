/// A bounds-checked little-endian reader over the GGUF header. Every read names the field it
/// reads, so a short file fails with "field tensor[17].dims needs 8 bytes at offset …".
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(bytes: UnsafeRawBufferPointer, path: String) { self.bytes = bytes; self.path = path }

    private func need(_ n: Int, _ field: String) throws {
        guard n >= 0, offset <= bytes.count, n <= bytes.count - offset else {
            throw ModelError.truncated(path: path, field: field, offset: offset, needed: n, fileSize: bytes.count)
        }
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ field: String) throws -> T {
        try need(MemoryLayout<T>.size, field)
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ field: String) throws -> Float { Float(bitPattern: try read(UInt32.self, field)) }
    mutating func readDouble(_ field: String) throws -> Double { Double(bitPattern: try read(UInt64.self, field)) }

    /// A count stored as u64 that must also fit the remaining file (each element takes ≥ `minBytes`).
    mutating func readCount(_ field: String, minBytesPerElement: Int) throws -> Int {
        let raw = try read(UInt64.self, field)
        let remaining = UInt64(bytes.count - offset)
        guard raw <= remaining / UInt64(max(minBytesPerElement, 1)) else {
            throw ModelError.corrupted(path: path, field: field,
                                       reason: "count \(raw) cannot fit in the \(remaining) bytes left")
        }
        return Int(raw)
    }

    /// GGUF string: u64 length, then UTF-8 bytes (not NUL-terminated).
    mutating func readString(_ field: String) throws -> String {
        let n = try readCount(field + ".length", minBytesPerElement: 1)
        try need(n, field)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }

    mutating func align(to alignment: Int) {
        let r = offset % alignment
        if r != 0 { offset += alignment - r }
    }
}
