import Foundation
import SparseSkeleton

/// Minimal reader for the captured-layer `.npy` files (version 1/2/3 header, little-endian `<f4`
/// or `<f2`, C order, shape [N, heads, headDim]) — private to `mask-eval` until the core's IO
/// reader is available. Every malformed case throws a typed `SkeletonError` naming the problem.
enum NpyLoader {
    static func load(_ path: String, name: String) throws -> HeadTensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SkeletonError.fileUnreadable(path: path, reason: "no such file or not readable")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "missing the \\x93NUMPY magic")
        }
        let major = bytes[6]
        let headerLen: Int, start: Int
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8; start = 10
        } else {
            guard bytes.count >= 12 else { throw SkeletonError.fileTruncated(path: path, expectedBytes: 12, actualBytes: bytes.count) }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; start = 12
        }
        guard bytes.count >= start + headerLen else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: start + headerLen, actualBytes: bytes.count)
        }
        let header = String(decoding: bytes[start..<(start + headerLen)], as: UTF8.self)
        guard !header.contains("'fortran_order': True") else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "Fortran order is not supported; save with C order")
        }
        let dtype: DType
        if header.contains("'<f4'") { dtype = .f32 } else if header.contains("'<f2'") { dtype = .f16 } else {
            throw SkeletonError.unsupportedDType(header.components(separatedBy: "'descr': ").dropFirst().first?.prefix(6).description ?? "?")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "header has no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 3 else {
            throw SkeletonError.shapeMismatch("\(path): expected shape [N, heads, headDim], got \(dims)")
        }
        let count = dims[0] * dims[1] * dims[2]
        let body = start + headerLen
        guard bytes.count - body >= count * dtype.byteSize else {
            throw SkeletonError.fileTruncated(path: path, expectedBytes: count * dtype.byteSize, actualBytes: bytes.count - body)
        }
        if dtype == .f32 {
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body..<(body + count * 4)])) } }
            return try HeadTensor(name: name, tokens: dims[0], heads: dims[1], headDim: dims[2], values: values)
        }
        var bits = [UInt16](repeating: 0, count: count)
        bits.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { src in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[body..<(body + count * 2)])) } }
        return try HeadTensor(name: name, tokens: dims[0], heads: dims[1], headDim: dims[2], bits: bits, dtype: .f16)
    }
}
