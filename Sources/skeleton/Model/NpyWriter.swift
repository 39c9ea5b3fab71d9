import Foundation
import SparseSkeleton

/// Writes float32 arrays as NumPy .npy version 1.0 (little-endian '<f4', C order): magic
/// "\x93NUMPY", version 1.0, u16 header length, a Python-dict header padded with spaces to a
/// multiple of 64 bytes and ended by '\n', then the raw values.
enum NpyWriter {
    static func write(_ values: [Float], shape: [Int], to path: String) throws {
        guard shape.reduce(1, *) == values.count else {
            throw SkeletonError.shapeMismatch("npy \(path): \(values.count) values for shape \(shape)")
        }
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        let prefix = 10  // magic 6 + version 2 + length 2
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw SkeletonError.fileUnreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
