import SparseSkeleton

/// A bounds-checked little-endian reader over the GGUF header. Every read names the field it
/// reads, so a short file fails with "field tensor[17].dims needs 8 bytes at offset …". Field
/// names are built only when an error needs them.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(bytes: UnsafeRawBufferPointer, path: String) { self.bytes = bytes; self.path = BoundedText.path(path) }

    var remaining: Int { bytes.count - offset }

    func need(_ n: Int, _ field: @autoclosure () -> String) throws {
        guard n >= 0, offset <= bytes.count, n <= bytes.count - offset else {
            throw ModelError.truncated(path: path, field: field(), offset: offset, needed: n, fileSize: bytes.count)
        }
    }

    func corrupted(_ field: String, _ reason: String) -> ModelError {
        .corrupted(path: path, field: field, reason: reason)
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ field: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, field())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ field: @autoclosure () -> String) throws -> Float { Float(bitPattern: try read(UInt32.self, field())) }
    mutating func readDouble(_ field: @autoclosure () -> String) throws -> Double { Double(bitPattern: try read(UInt64.self, field())) }

    /// A count stored as u64, at most `cap`, that must also fit the remaining file (each element takes ≥ `minBytes`).
    mutating func readCount(_ field: @autoclosure () -> String, minBytesPerElement: Int, cap: Int) throws -> Int {
        let raw = try read(UInt64.self, field())
        guard raw <= UInt64(cap) else {
            throw corrupted(field(), "count \(raw) is over the reader's cap of \(cap)")
        }
        let fits = UInt64(remaining) / UInt64(max(minBytesPerElement, 1))
        guard raw <= fits else {
            throw corrupted(field(), "count \(raw) cannot fit in the \(remaining) bytes left")
        }
        return Int(raw)
    }

    /// The byte range of a GGUF string (u64 length, then UTF-8 bytes, not NUL-terminated) of at most `maxLength` bytes.
    mutating func readStringBytes(_ field: @autoclosure () -> String, maxLength: Int) throws -> UnsafeRawBufferPointer {
        let n = try read(UInt64.self, field() + ".length")
        guard n <= UInt64(maxLength) else {
            throw corrupted(field(), "string length \(n) is over the cap of \(maxLength) bytes")
        }
        try need(Int(n), field())
        let r = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(n))])
        offset += Int(n)
        return r
    }

    mutating func readString(_ field: @autoclosure () -> String, maxLength: Int) throws -> String {
        String(decoding: try readStringBytes(field(), maxLength: maxLength), as: UTF8.self)
    }

    /// `count` fixed-width little-endian values in one pass (bounds checked once).
    mutating func readArray<T: FixedWidthInteger>(_ type: T.Type, count: Int, _ field: @autoclosure () -> String) throws -> [T] {
        guard let length = CheckedMath.multiply(count, MemoryLayout<T>.size) else { throw corrupted(field(), "array of \(count) is too large") }
        try need(length, field())
        let start = offset
        let values = [T](unsafeUninitializedCapacity: count) { out, initialized in
            for i in 0..<count {
                out[i] = T(littleEndian: bytes.loadUnaligned(fromByteOffset: start + i * MemoryLayout<T>.size, as: T.self))
            }
            initialized = count
        }
        offset += length
        return values
    }

    mutating func align(to alignment: Int) {
        let r = offset % alignment
        if r != 0 { offset += alignment - r }
    }
}
