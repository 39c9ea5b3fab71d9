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

    init(mapped file: MappedFile) throws {
        self.file = file
        path = file.path
        var c = ByteCursor(bytes: file.bytes, path: file.path)
        let magic = try c.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw ModelError.corrupted(path: path, field: "magic",
                                       reason: "expected 'GGUF', found 0x\(String(magic, radix: 16)) (not a GGUF file)")
        }
        version = try c.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw ModelError.unsupportedVersion(path: path, version: version) }
        // each tensor entry takes at least 8+4+8+4+8 bytes; each KV at least 8+4+1
        let tensorCount = try c.readCount("tensor_count", minBytesPerElement: 32)
        let kvCount = try c.readCount("metadata_kv_count", minBytesPerElement: 13)

        var meta: [String: GGUFValue] = [:]
        for i in 0..<kvCount {
            let key = try c.readString("metadata[\(i)].key")
            let typeID = try c.read(UInt32.self, "metadata[\(key)].type")
            meta[key] = try c.readValue(typeID: typeID, field: "metadata[\(key)]")
        }
        metadata = meta

        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.intValue, v > 0, v & (v - 1) == 0 else {
                throw ModelError.invalidMetadata(key: "general.alignment", reason: "\(a) is not a positive power of two")
            }
            align = v
        }
        alignment = align

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try c.readString("tensor[\(i)].name")
            let nDims = Int(try c.read(UInt32.self, "tensor[\(name)].n_dims"))
            guard (1...4).contains(nDims) else {
                throw ModelError.corrupted(path: path, field: "tensor[\(name)].n_dims", reason: "\(nDims) is outside 1...4")
            }
            var dims: [Int] = []
            for d in 0..<nDims {
                let ne = try c.read(UInt64.self, "tensor[\(name)].ne[\(d)]")
                guard ne > 0, ne < (1 << 40) else {
                    throw ModelError.corrupted(path: path, field: "tensor[\(name)].ne[\(d)]", reason: "extent \(ne) is out of range")
                }
                dims.append(Int(ne))
            }
            let typeID = try c.read(UInt32.self, "tensor[\(name)].type")
            let offset = try c.read(UInt64.self, "tensor[\(name)].offset")
            // Offsets past the end are reported as truncation below, once the data section's start is known.
            guard offset < (1 << 50) else {
                throw ModelError.corrupted(path: path, field: "tensor[\(name)].offset", reason: "\(offset) is out of range")
            }
            let type = GGMLType.supported.first { $0.id == typeID }
            if let type, dims[0] % type.blockSize != 0 {
                throw ModelError.corrupted(path: path, field: "tensor[\(name)].ne[0]",
                                           reason: "row length \(dims[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            guard Int(offset) % align == 0 else {
                throw ModelError.corrupted(path: path, field: "tensor[\(name)].offset", reason: "\(offset) is not aligned to \(align)")
            }
            infos.append(GGUFTensorInfo(name: name, dims: dims, typeID: typeID, type: type, offset: Int(offset)))
        }
        c.align(to: align)
        dataOffset = c.offset
        tensors = infos
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        byName = index

        // Every tensor whose type we know must lie inside the file.
        for t in infos {
            guard let type = t.type else { continue }
            let end = dataOffset + t.offset + type.byteCount(elements: t.elementCount)
            if end > file.bytes.count {
                throw ModelError.truncated(path: path, field: "tensor[\(t.name)].data", offset: dataOffset + t.offset,
                                           needed: type.byteCount(elements: t.elementCount), fileSize: file.bytes.count)
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
        guard let v = metadata[key] else { throw ModelError.missingMetadata(key: key) }
        guard let i = v.intValue else { throw ModelError.invalidMetadata(key: key, reason: "\(v) is not an integer") }
        return i
    }
    public func double(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw ModelError.missingMetadata(key: key) }
        guard let d = v.doubleValue else { throw ModelError.invalidMetadata(key: key, reason: "\(v) is not a number") }
        return d
    }
    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw ModelError.missingMetadata(key: key) }
        guard let s = v.stringValue else { throw ModelError.invalidMetadata(key: key, reason: "is not a string") }
        return s
    }
    public func array(_ key: String) throws -> [GGUFValue] {
        guard let v = metadata[key] else { throw ModelError.missingMetadata(key: key) }
        guard let a = v.arrayValue else { throw ModelError.invalidMetadata(key: key, reason: "is not an array") }
        return a
    }
}
