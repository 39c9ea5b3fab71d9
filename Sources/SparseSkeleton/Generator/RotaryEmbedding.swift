import Foundation

/// Rotary position embedding (RoPE, Su et al. 2021) in the "rotate-half" (GPT-NeoX / Hugging Face
/// Llama) layout: dimension c and c + d/2 form pair c, rotated at token position p by angle
/// p·θ_c with θ_c = base^(−2c/d):
///
///     x'_c       = x_c·cos(pθ_c) − x_{c+d/2}·sin(pθ_c)
///     x'_{c+d/2} = x_c·sin(pθ_c) + x_{c+d/2}·cos(pθ_c)
///
/// Rotations compose, so (R(i)a)·(R(j)b) = a·R(j−i)b: scores depend on the offset j − i only.
public enum RotaryEmbedding {
    /// θ_c for the d/2 pairs.
    public static func frequencies(headDim: Int, base: Double) -> [Double] {
        (0..<(headDim / 2)).map { Foundation.pow(base, -2 * Double($0) / Double(headDim)) }
    }

    /// Rotates one head vector in place at `position`.
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, headDim: Int, position: Int, frequencies: [Double]) {
        let half = headDim / 2
        for c in 0..<half {
            let angle = Double(position) * frequencies[c]
            let cs = Foundation.cos(angle), sn = Foundation.sin(angle)
            let a = Double(x[c]), b = Double(x[c + half])
            x[c] = Float(a * cs - b * sn)
            x[c + half] = Float(a * sn + b * cs)
        }
    }

    /// Rotates every head of every token of a [tokens, heads, headDim] buffer (token index = position).
    public static func apply(_ values: inout [Float], tokens: Int, heads: Int, headDim: Int, base: Double) throws {
        guard headDim > 0, headDim % 2 == 0 else { throw SkeletonError.invalidArgument("RoPE needs an even head dim, got \(headDim)") }
        guard base > 1, base.isFinite else { throw SkeletonError.invalidArgument("RoPE base must be > 1, got \(base)") }
        guard values.count == tokens * heads * headDim else {
            throw SkeletonError.shapeMismatch("RoPE: \(values.count) values for [\(tokens), \(heads), \(headDim)]")
        }
        let freqs = frequencies(headDim: headDim, base: base)
        values.withUnsafeMutableBufferPointer { buf in
            for t in 0..<tokens {
                for h in 0..<heads { rotate(buf.baseAddress! + (t * heads + h) * headDim, headDim: headDim, position: t, frequencies: freqs) }
            }
        }
    }
}
