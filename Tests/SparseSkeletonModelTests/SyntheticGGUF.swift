import Foundation
@testable import SparseSkeletonModel

/// Writes small GGUF files for tests, byte by byte from the format description, so the reader
/// is checked against a file it did not produce.
struct SyntheticGGUF {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes.append(contentsOf: Array(s.utf8)) }
    mutating func pad(to a: Int) { while bytes.count % a != 0 { bytes.append(0) } }

    /// The metadata pair general.architecture = `arch` (a string, type 8).
    mutating func architecture(_ arch: String) { string("general.architecture"); u32(8); string(arch) }

    /// A file holding only general.architecture = `arch` and no tensor, written as `name`; its path.
    static func architectureOnly(_ arch: String, name: String) throws -> String {
        try write(make(kvCount: 1, writeKVs: { $0.architecture(arch) }, tensors: []), name: name)
    }

    struct Tensor { var name: String; var dims: [Int]; var type: UInt32; var data: [UInt8] }

    /// A version-3 file with the given metadata writer and tensors (data aligned to `alignment`);
    /// `offsets` replaces the tensor table's offsets (to write a malformed table).
    static func make(alignment: Int = 32, kvCount: Int, writeKVs: (inout SyntheticGGUF) -> Void,
                     tensors: [Tensor], offsets forced: [Int]? = nil) -> [UInt8] {
        var w = SyntheticGGUF()
        w.bytes.append(contentsOf: Array("GGUF".utf8))
        w.u32(3)
        w.u64(UInt64(tensors.count))
        w.u64(UInt64(kvCount))
        writeKVs(&w)
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += t.data.count
            offset = (offset + alignment - 1) / alignment * alignment
        }
        for (t, off) in zip(tensors, forced ?? offsets) {
            w.string(t.name)
            w.u32(UInt32(t.dims.count))
            for d in t.dims { w.u64(UInt64(d)) }
            w.u32(t.type)
            w.u64(UInt64(off))
        }
        w.pad(to: alignment)
        for t in tensors {
            w.bytes.append(contentsOf: t.data)
            w.pad(to: alignment)
        }
        return w.bytes
    }

    static func write(_ bytes: [UInt8], name: String) throws -> String {
        let path = NSTemporaryDirectory() + "skeleton-test-\(name)-\(getpid()).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// Little-endian byte helpers for hand-built quantised blocks.
enum BlockBytes {
    static func f16(_ v: Float) -> [UInt8] { let b = Float16(v).bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8)] }
    static func f32(_ v: Float) -> [UInt8] { withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}
