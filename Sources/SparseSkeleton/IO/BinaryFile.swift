import Foundation

/// Whole-file reads and writes with typed errors, and little-endian element packing for
/// `HeadTensor` storage. Tensor files are little-endian by definition (.npy '<', safetensors).
enum BinaryFile {
    /// The whole regular file (see `InputFile`: FIFOs and devices are refused before they are opened).
    static func read(_ path: String) throws -> [UInt8] {
        try InputFile(path: path).readAll()
    }

    /// Through `AtomicOutput`: never over an input of this process, replaced only whole.
    static func write(_ bytes: [UInt8], to path: String) throws {
        try AtomicOutput.write(bytes, to: path)
    }

    /// The tensor's elements in its own dtype, little-endian.
    static func elementBytes(_ t: HeadTensor) -> [UInt8] {
        switch t.storage {
        case .f32(let values):
            return values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
        case .bits16(let bits):
            return bits.map { $0.littleEndian }.withUnsafeBytes { Array($0) }
        }
    }

    static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    static func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        return v
    }

    /// Decodes `count` little-endian elements of `element` starting at `offset` into a HeadTensor.
    /// f64 is narrowed to f32 storage. The bytes must be there (checked again here).
    static func tensor(name: String, dims: (tokens: Int, heads: Int, headDim: Int), element: ElementType,
                       bytes: [UInt8], offset: Int, path: String) throws -> HeadTensor {
        guard let count = CheckedMath.product([dims.tokens, dims.heads, dims.headDim]),
              let length = CheckedMath.multiply(count, element.byteSize),
              offset >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw SkeletonError.invalidFileFormat(path: BoundedText.path(path), reason: "tensor '\(BoundedText.cut(name))' lies outside the data")
        }
        switch element {
        case .f32:
            let values = decode(bytes, offset: offset, count: count, as: UInt32.self) { Float(bitPattern: $0) }
            return try HeadTensor(name: name, tokens: dims.tokens, heads: dims.heads, headDim: dims.headDim, values: values)
        case .f64:
            let values = decode(bytes, offset: offset, count: count, as: UInt64.self) { Float(Double(bitPattern: $0)) }
            return try HeadTensor(name: name, tokens: dims.tokens, heads: dims.heads, headDim: dims.headDim, values: values)
        case .f16, .bf16:
            let bits = decode(bytes, offset: offset, count: count, as: UInt16.self) { $0 }
            return try HeadTensor(name: name, tokens: dims.tokens, heads: dims.heads, headDim: dims.headDim,
                                  bits: bits, dtype: element == .f16 ? .f16 : .bf16)
        }
    }

    /// `count` little-endian words from `offset` (unaligned loads), each passed through `convert`.
    /// The caller has checked bounds.
    static func decode<W: FixedWidthInteger, T>(_ bytes: [UInt8], offset: Int, count: Int, as: W.Type,
                                                 _ convert: (W) -> T) -> [T] {
        bytes.withUnsafeBytes { raw in
            (0..<count).map { convert(W(littleEndian: raw.loadUnaligned(fromByteOffset: offset + $0 * MemoryLayout<W>.size, as: W.self))) }
        }
    }

    /// Element types the tensor files may hold.
    enum ElementType {
        case f32, f64, f16, bf16
        var byteSize: Int {
            switch self {
            case .f32: return 4
            case .f64: return 8
            case .f16, .bf16: return 2
            }
        }
    }

    /// [N, heads, headDim] from a file's shape: rank 3, or rank 4 with a leading batch of 1.
    /// Every extent is ≥ 0 and the element count and its byte size are representable (checked, not wrapped).
    static func headDims(_ shape: [Int], element: ElementType, path: String, what: String) throws -> (tokens: Int, heads: Int, headDim: Int) {
        var s = shape
        if s.count == 4 {
            guard s[0] == 1 else {
                throw SkeletonError.invalidFileFormat(path: path, reason: "\(what) has shape \(shape): rank 4 is accepted only with batch 1 ([1, N, heads, headDim])")
            }
            s.removeFirst()
        }
        guard s.count == 3 else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "\(what) has rank \(shape.count) (shape \(BoundedText.cut("\(shape)"))); expected rank 3 [N, heads, headDim]")
        }
        guard s.allSatisfy({ $0 >= 0 }), s[1] > 0, s[2] > 0 else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "\(what) has invalid shape \(shape)")
        }
        guard let count = CheckedMath.product(s), count < Int(Int32.max) * 16,
              CheckedMath.multiply(count, element.byteSize) != nil else {
            throw SkeletonError.invalidFileFormat(path: path, reason: "\(what) shape \(shape) is too large")
        }
        return (s[0], s[1], s[2])
    }
}
