/// FP8 e4m3 (the "fn" variant of NVIDIA's FP8: 4 exponent bits, bias 7, 3 mantissa bits, no infinities,
/// 0x7F / 0xFF NaN, largest finite 448), bit-exact on the CPU: the reference of fp8_quantize.cu and of the FP8
/// attention kernel's inputs.
public enum E4M3 {
    public static let maxFinite: Float = 448

    /// Rounds to nearest even with saturation at ±448 (PTX cvt.rn.satfinite.e4m3x2.f32); NaN → 0x7F.
    public static func encode(_ x: Float) -> UInt8 {
        if x.isNaN { return 0x7F }
        let sign: UInt8 = x.sign == .minus ? 0x80 : 0
        let a = Double(x.magnitude)
        if a >= 448 { return sign | 0x7E }
        let minNormal = 0x1p-6
        if a < minNormal {  // subnormals: m · 2^-9, m = 0…8 (8 is the smallest normal, code 0x08)
            return sign | UInt8((a * 512).rounded(.toNearestOrEven))
        }
        var e = Int(a.exponent)  // a = 1.f · 2^e, e in −6 … 8
        var m = Int(((a / Double(sign: .plus, exponent: e, significand: 1) - 1) * 8).rounded(.toNearestOrEven))
        if m == 8 { m = 0; e += 1 }
        let code = min((e + 7) << 3 | m, 0x7E)
        return sign | UInt8(code)
    }

    public static func decode(_ c: UInt8) -> Float {
        let sign: Float = c & 0x80 != 0 ? -1 : 1
        let e = Int((c >> 3) & 0xF), m = Int(c & 7)
        if e == 15 && m == 7 { return .nan }
        if e == 0 { return sign * Float(m) * 0x1p-9 }
        return sign * (1 + Float(m) / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
    }

    /// The per-head scale fp8_quantize.cu keeps (value ≈ code · scale) and the factor it multiplies by.
    public static func scale(amax: Float) -> (scale: Float, inverse: Float) {
        if amax == 0 { return (1, 1) }
        guard amax.isFinite else { return (.nan, .nan) }
        return (amax / maxFinite, maxFinite / amax)
    }

    /// The key stored at position k (0…31) of each group of 32 in the FP8 kernel's transposed V.
    public static func keyOfPosition(_ k: Int) -> Int { 16 * (k / 16) + 2 * ((k % 16) / 4) + ((k % 4) & 1) + 8 * ((k % 4) >> 1) }
}

/// The CPU twin of fp8_quantize.cu: one tensor [N, heads, d] (the values as the GPU reads them) to e4m3 codes with
/// per-head scales, row-major (Q, K) or transposed with the key permutation and padding (V).
public struct E4M3Quantized: Sendable {
    public let scales: [Float]
    public let codes: [UInt8]

    public init(values: [Float], tokens: Int, heads: Int, headDim: Int, transposedTo paddedTokens: Int? = nil) {
        var amax = [Float](repeating: 0, count: heads)
        for (i, x) in values.enumerated() {
            let h = (i / headDim) % heads
            if x.isNaN || x.magnitude > amax[h] { amax[h] = x.isNaN ? .nan : (amax[h].isNaN ? amax[h] : x.magnitude) }
        }
        let s = amax.map(E4M3.scale)
        scales = s.map(\.scale)
        if let p = paddedTokens {
            var out = [UInt8](repeating: 0, count: heads * headDim * p)
            for h in 0..<heads {
                for c in 0..<headDim {
                    for j in 0..<p {
                        let key = 32 * (j / 32) + E4M3.keyOfPosition(j % 32)
                        guard key < tokens else { continue }
                        out[(h * headDim + c) * p + j] = E4M3.encode(values[(key * heads + h) * headDim + c] * s[h].inverse)
                    }
                }
            }
            codes = out
        } else {
            codes = values.enumerated().map { i, x in E4M3.encode(x * s[(i / headDim) % heads].inverse) }
        }
    }
}
