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

    /// Names of GGML types this reader knows but does not dequantise, for error messages.
    static let knownUnsupportedNames: [UInt32: String] = [
        7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
        18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
        26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
    ]

    public static func named(id: UInt32) -> String {
        supported.first { $0.id == id }?.name ?? knownUnsupportedNames[id] ?? "unknown"
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
}
