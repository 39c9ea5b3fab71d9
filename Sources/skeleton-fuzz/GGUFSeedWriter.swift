import SparseSkeletonModel

/// Writes a small version-3 GGUF: chosen metadata values and tensors, data aligned to 32 (the
/// layout `GGUFFile` documents), so real metadata and real tensor blocks seed the GGUF fuzzer.
struct GGUFSeedWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: Array(s.utf8)) }

    /// The GGUF type id of a value and its encoding (arrays carry their element type).
    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): bytes.append(x)
        case .int8(let x): bytes.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .float64(let x): u64(x.bitPattern)
        case .bool(let x): bytes.append(x ? 1 : 0)
        case .string(let s): string(s)
        case .array(let a):
            u32(a.first.map(Self.typeID) ?? 0)
            u64(UInt64(a.count))
            for e in a { value(e) }
        }
    }

    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    struct Tensor { let name: String; let dims: [Int]; let type: UInt32; let data: [UInt8] }

    static func file(metadata: [(String, GGUFValue)], tensors: [Tensor]) -> [UInt8] {
        var w = GGUFSeedWriter()
        w.bytes = Array("GGUF".utf8)
        w.u32(3)
        w.u64(UInt64(tensors.count))
        w.u64(UInt64(metadata.count))
        for (k, v) in metadata { w.string(k); w.u32(typeID(v)); w.value(v) }
        var offset = 0
        for t in tensors {
            w.string(t.name)
            w.u32(UInt32(t.dims.count))
            for d in t.dims { w.u64(UInt64(d)) }
            w.u32(t.type)
            w.u64(UInt64(offset))
            offset = (offset + t.data.count + 31) / 32 * 32
        }
        while w.bytes.count % 32 != 0 { w.bytes.append(0) }
        for t in tensors {
            w.bytes += t.data
            while w.bytes.count % 32 != 0 { w.bytes.append(0) }
        }
        return w.bytes
    }
}
