/// Element types the library accepts at its boundary. CPU code computes in Float/Double;
/// the 16-bit types are stored as raw bits and converted on read.
public enum DType: String, CaseIterable, Sendable {
    case f32, f16, bf16

    public var byteSize: Int { self == .f32 ? 4 : 2 }

    public init(parsing name: String) throws {
        switch name.lowercased() {
        case "f32", "float32", "float": self = .f32
        case "f16", "float16", "half", "fp16": self = .f16
        case "bf16", "bfloat16": self = .bf16
        default: throw SkeletonError.unsupportedDType(name)
        }
    }
}

/// Bit-exact conversions between Float and the 16-bit formats (round to nearest even).
public enum HalfBits {
    @inline(__always)
    public static func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    @inline(__always)
    public static func floatToBF16(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if f.isNaN { return UInt16(u >> 16) | 0x0040 }  // keep it a quiet NaN
        let rounding = UInt32(0x7FFF) + ((u >> 16) & 1)
        return UInt16((u &+ rounding) >> 16)
    }

    @inline(__always)
    public static func f16ToFloat(_ h: UInt16) -> Float { Float(Float16(bitPattern: h)) }

    @inline(__always)
    public static func floatToF16(_ f: Float) -> UInt16 { Float16(f).bitPattern }
}
