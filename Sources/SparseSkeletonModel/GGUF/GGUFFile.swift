import SparseSkeleton

/// One tensor's entry in the GGUF tensor table. `dims` are GGML's ne[]: dims[0] is the
/// contiguous (innermost) extent, so a 2-D weight with dims [in, out] is `out` rows of `in` values.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let dims: [Int]
    public let typeID: UInt32
    /// nil when the type is one this reader does not dequantise (the error comes on use).
    public let type: GGMLType?
    /// Offset of the data from the start of the data section.
    public let offset: Int
    /// Bytes the data takes (validated representable and inside the file on open).
    public let byteSize: Int
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A parsed GGUF file (versions 2 and 3): metadata, tensor table, and the memory-mapped data.
///
/// Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, the metadata
/// key/values, the tensor table (name, n_dims, ne[], type, offset), padding to
/// `general.alignment` (default 32), then the tensor data; each tensor's offset is relative to
/// that data section and aligned.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    private let file: MappedFile
    private let byName: [String: Int]

    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian

    public convenience init(path: String) throws {
        try self.init(mapped: try MappedFile(path: path))
    }

    /// Parses a GGUF held in memory (`path` names it in errors).
    public convenience init(contents: [UInt8], path: String) throws {
        try self.init(mapped: MappedFile(copying: contents, path: path))
    }

    /// Validates the whole header as llama.cpp's reader does: magic and version; counts, string
    /// and array lengths within `GGUFLimits` and the file; unique keys and tensor names (names
    /// shorter than 64 bytes); per tensor 1–4 extents, a known type whose block divides ne[0], an
    /// element count and byte size that are representable, and an offset equal to the end of the
    /// tensor before it rounded up to the alignment (so tensors neither overlap nor leave holes);
    /// then every tensor's data must lie inside the file.
    init(mapped file: MappedFile) throws {
        self.file = file
        path = BoundedText.path(file.path)
        var c = ByteCursor(bytes: file.bytes, path: file.path)
        let magic = try c.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw ModelError.corrupted(path: path, field: "magic",
                                       reason: "expected 'GGUF', found 0x\(String(magic, radix: 16)) (not a GGUF file)")
        }
        version = try c.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw ModelError.unsupportedVersion(path: path, version: version) }
        // each tensor entry takes at least 8+4+8+4+8 bytes; each KV at least 8+4+1
        let tensorCount = try c.readCount("tensor_count", minBytesPerElement: 32, cap: GGUFLimits.maxTensors)
        let kvCount = try c.readCount("metadata_kv_count", minBytesPerElement: 13, cap: GGUFLimits.maxKeyValues)

        var meta: [String: GGUFValue] = [:]
        meta.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            let key = try c.readString("metadata[\(i)].key", maxLength: GGUFLimits.maxKeyLength)
            let label = "metadata[\(BoundedText.cut(key))]"
            guard meta[key] == nil else { throw c.corrupted(label, "duplicate key (entry \(i) repeats an earlier key)") }
            let typeID = try c.read(UInt32.self, label + ".type")
            meta[key] = try c.readValue(typeID: typeID, field: label)
        }
        metadata = meta

        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 1 << 30, v & (v - 1) == 0 else {
                throw ModelError.invalidMetadata(key: "general.alignment", reason: "\(a) is not a power of two up to 2^30")
            }
            align = v
        }
        alignment = align

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        var index: [String: Int] = [:]
        index.reserveCapacity(tensorCount)
        var expectedOffset = 0
        for i in 0..<tensorCount {
            let name = try c.readString("tensor[\(i)].name", maxLength: GGUFLimits.maxTensorNameLength)
            let label = "tensor[\(name)]"
            guard index[name] == nil else { throw c.corrupted(label + ".name", "duplicate tensor name (also tensor \(index[name]!))") }
            let nDims = Int(try c.read(UInt32.self, label + ".n_dims"))
            guard (1...4).contains(nDims) else {
                throw c.corrupted(label + ".n_dims", "\(nDims) is outside 1...4")
            }
            var dims: [Int] = []
            for d in 0..<nDims {
                let ne = try c.read(UInt64.self, "\(label).ne[\(d)]")
                guard ne > 0, ne <= UInt64(Int.max) else {
                    throw c.corrupted("\(label).ne[\(d)]", "extent \(ne) is out of range")
                }
                dims.append(Int(ne))
            }
            let typeID = try c.read(UInt32.self, label + ".type")
            guard let known = GGMLType.known(id: typeID) else {
                throw c.corrupted(label + ".type", "unknown GGML type id \(typeID)")
            }
            guard dims[0] % known.blockSize == 0 else {
                throw c.corrupted(label + ".ne[0]",
                                  "row length \(dims[0]) is not a multiple of the \(known.name) block size \(known.blockSize)")
            }
            guard let count = CheckedMath.product(dims), let byteSize = known.checkedByteCount(elements: count),
                  let padded = CheckedMath.add(byteSize, align - 1).map({ $0 / align * align }) else {
                throw c.corrupted(label + ".ne", "\(dims) elements of \(known.name) are more than can be addressed")
            }
            let offset = try c.read(UInt64.self, label + ".offset")
            guard offset == UInt64(expectedOffset) else {
                throw c.corrupted(label + ".offset", offset % UInt64(align) != 0
                    ? "\(offset) is not aligned to \(align)"
                    : "\(offset) is not where the tensor before it ends (expected \(expectedOffset): tensors must follow each other)")
            }
            guard let next = CheckedMath.add(expectedOffset, padded) else {
                throw c.corrupted(label + ".offset", "the data section would be larger than can be addressed")
            }
            expectedOffset = next
            let type = GGMLType.supported.first { $0.id == typeID }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, dims: dims, typeID: typeID, type: type, offset: Int(offset), byteSize: byteSize))
        }
        c.align(to: align)
        dataOffset = c.offset
        tensors = infos
        byName = index

        // Every tensor's data must lie inside the file.
        for t in infos {
            guard let end = CheckedMath.add(dataOffset, t.offset).flatMap({ CheckedMath.add($0, t.byteSize) }),
                  end <= file.bytes.count else {
                throw ModelError.truncated(path: path, field: "tensor[\(t.name)].data", offset: dataOffset + t.offset,
                                           needed: t.byteSize, fileSize: file.bytes.count)
            }
        }
    }

    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let i = byName[name] else { throw ModelError.missingTensor(name: name) }
        return tensors[i]
    }

    public func hasTensor(_ name: String) -> Bool { byName[name] != nil }

    /// The tensor's raw bytes inside the mapping.
    public func rawBytes(_ info: GGUFTensorInfo) throws -> UnsafeRawBufferPointer {
        guard let type = info.type else {
            throw ModelError.unsupportedQuantType(tensor: info.name, typeID: info.typeID, typeName: GGMLType.named(id: info.typeID))
        }
        let start = dataOffset + info.offset
        let n = type.byteCount(elements: info.elementCount)
        guard start >= 0, start <= file.bytes.count, n <= file.bytes.count - start else {
            throw ModelError.truncated(path: path, field: "tensor[\(info.name)].data", offset: start, needed: n, fileSize: file.bytes.count)
        }
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + n)])
    }

    /// The whole tensor dequantised to Float, in GGML order (dims[0] fastest).
    public func floats(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        let raw = try rawBytes(info)
        // rawBytes has validated the type
        return try Dequantizer.dequantize(raw, type: info.type ?? .f32, count: info.elementCount)
    }

    // MARK: metadata accessors with typed errors

    public func int(_ key: String) throws -> Int {
        try value(key, \.intValue) { "\($0) is not an integer" }
    }
    public func double(_ key: String) throws -> Double {
        try value(key, \.doubleValue) { "\($0) is not a number" }
    }
    public func string(_ key: String) throws -> String {
        try value(key, \.stringValue) { _ in "is not a string" }
    }
    public func array(_ key: String) throws -> GGUFArray {
        try value(key, \.arrayValue) { _ in "is not an array" }
    }

    /// The integer at `key`, which must be positive.
    public func positiveInt(_ key: String) throws -> Int {
        let v = try int(key)
        guard v > 0 else { throw ModelError.invalidMetadata(key: key, reason: "\(v) must be positive") }
        return v
    }

    /// The value at `key` read as `T` by `read`; a missing key or a value of another type throws
    /// (with `reason(value)` as the message).
    private func value<T>(_ key: String, _ read: (GGUFValue) -> T?, reason: (GGUFValue) -> String) throws -> T {
        guard let v = metadata[key] else { throw ModelError.missingMetadata(key: key) }
        guard let t = read(v) else { throw ModelError.invalidMetadata(key: key, reason: reason(v)) }
        return t
    }
}
