import SparseSkeleton

/// A GGML tensor element type: its GGUF id, how many elements one block holds and how many
/// bytes that block takes. Quantised types store blocks of 32 (legacy) or 256 (K-quants) values.
public struct GGMLType: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let id: UInt32
    public let name: String
    public let blockSize: Int
    public let blockBytes: Int

    public var description: String { name }

    public static let f32 = GGMLType(id: 0, name: "F32", blockSize: 1, blockBytes: 4)
    public static let f16 = GGMLType(id: 1, name: "F16", blockSize: 1, blockBytes: 2)
    /// d (f16), 16 bytes of 4-bit q: x = (q − 8)·d.
    public static let q4_0 = GGMLType(id: 2, name: "Q4_0", blockSize: 32, blockBytes: 18)
    /// d, m (f16), 16 bytes of 4-bit q: x = q·d + m.
    public static let q4_1 = GGMLType(id: 3, name: "Q4_1", blockSize: 32, blockBytes: 20)
    /// d (f16), 4 bytes of fifth bits, 16 bytes of 4-bit q: x = (q − 16)·d.
    public static let q5_0 = GGMLType(id: 6, name: "Q5_0", blockSize: 32, blockBytes: 22)
    /// d (f16), 32 signed bytes: x = q·d.
    public static let q8_0 = GGMLType(id: 8, name: "Q8_0", blockSize: 32, blockBytes: 34)
    /// d, dmin (f16), 12 bytes of packed 6-bit scales/mins, 128 bytes of 4-bit q.
    public static let q4_K = GGMLType(id: 12, name: "Q4_K", blockSize: 256, blockBytes: 144)
    /// as Q4_K plus 32 bytes holding each value's fifth bit.
    public static let q5_K = GGMLType(id: 13, name: "Q5_K", blockSize: 256, blockBytes: 176)
    /// 128 bytes low 4 bits, 64 bytes high 2 bits, 16 signed 8-bit scales, d (f16).
    public static let q6_K = GGMLType(id: 14, name: "Q6_K", blockSize: 256, blockBytes: 210)
    public static let bf16 = GGMLType(id: 30, name: "BF16", blockSize: 1, blockBytes: 2)

    public static let supported: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q4_K, .q5_K, .q6_K]

    /// GGML types this reader knows (so it can size and place their data, as llama.cpp does) but
    /// does not dequantise; using one is an error naming the type.
    static let knownUnsupported: [GGMLType] = [
        .init(id: 7, name: "Q5_1", blockSize: 32, blockBytes: 24),
        .init(id: 9, name: "Q8_1", blockSize: 32, blockBytes: 36), .init(id: 10, name: "Q2_K", blockSize: 256, blockBytes: 84),
        .init(id: 11, name: "Q3_K", blockSize: 256, blockBytes: 110), .init(id: 15, name: "Q8_K", blockSize: 256, blockBytes: 292),
        .init(id: 16, name: "IQ2_XXS", blockSize: 256, blockBytes: 66), .init(id: 17, name: "IQ2_XS", blockSize: 256, blockBytes: 74),
        .init(id: 18, name: "IQ3_XXS", blockSize: 256, blockBytes: 98), .init(id: 19, name: "IQ1_S", blockSize: 256, blockBytes: 50),
        .init(id: 20, name: "IQ4_NL", blockSize: 32, blockBytes: 18), .init(id: 21, name: "IQ3_S", blockSize: 256, blockBytes: 110),
        .init(id: 22, name: "IQ2_S", blockSize: 256, blockBytes: 82), .init(id: 23, name: "IQ4_XS", blockSize: 256, blockBytes: 136),
        .init(id: 24, name: "I8", blockSize: 1, blockBytes: 1), .init(id: 25, name: "I16", blockSize: 1, blockBytes: 2),
        .init(id: 26, name: "I32", blockSize: 1, blockBytes: 4), .init(id: 27, name: "I64", blockSize: 1, blockBytes: 8),
        .init(id: 28, name: "F64", blockSize: 1, blockBytes: 8), .init(id: 29, name: "IQ1_M", blockSize: 256, blockBytes: 56),
        .init(id: 34, name: "TQ1_0", blockSize: 256, blockBytes: 54), .init(id: 35, name: "TQ2_0", blockSize: 256, blockBytes: 66),
        .init(id: 39, name: "MXFP4", blockSize: 32, blockBytes: 17),
    ]

    public static func named(id: UInt32) -> String { known(id: id)?.name ?? "unknown" }

    /// Any type this reader can size, supported or not.
    static func known(id: UInt32) -> GGMLType? {
        supported.first { $0.id == id } ?? knownUnsupported.first { $0.id == id }
    }

    /// The supported type with this id, or a typed error naming the tensor and the type.
    public static func supported(id: UInt32, tensor: String) throws -> GGMLType {
        guard let t = supported.first(where: { $0.id == id }) else {
            throw ModelError.unsupportedQuantType(tensor: tensor, typeID: id, typeName: named(id: id))
        }
        return t
    }

    /// Bytes taken by `elements` values (a whole number of blocks).
    public func byteCount(elements: Int) -> Int { elements / blockSize * blockBytes }

    /// `byteCount`, or nil when it is not representable.
    func checkedByteCount(elements: Int) -> Int? { CheckedMath.multiply(elements / blockSize, blockBytes) }
}
