/// Vectorised single-precision helpers for the softmax inner loops of reference attention and the
/// exact block masses: exp, row maximum, row sum. 8 lanes at a time (two SSE or one AVX register).
public enum VectorMath {
    /// e^x for 8 lanes, relative error below 2·10⁻⁷ for x in [−87, 88]; 0 below −87 (including
    /// −∞), +∞ above 88.7, NaN stays NaN.
    ///
    /// Range reduction: x = n·ln2 + r with n = round(x·log₂e) and |r| ≤ ln2/2; ln2 is split into a
    /// high part exact in float and a low correction (Cody–Waite) so r carries no cancellation
    /// error. e^r is a degree-7 Taylor polynomial (truncation r⁸/8! < 4·10⁻⁹ on that range),
    /// 2ⁿ is built from its exponent bits. Rounding uses the 1.5·2²³ trick: adding it leaves n in the
    /// low mantissa bits without a float→int conversion.
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let lowCut: Float = -87.0, highCut: Float = 88.7
        let xc = lanewiseMin(lanewiseMax(x, SIMD8(repeating: lowCut)), SIMD8(repeating: highCut))
        let magic: Float = 12_582_912.0  // 1.5 · 2²³
        let t = xc * 1.442_695_04 + magic
        let n = t - magic
        let r = (xc - n * 0.693_145_75) - n * 1.428_606_8e-6
        // Horner, coefficients 1/k!
        var p = SIMD8<Float>(repeating: 1.0 / 5040.0)
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(SIMD8<Float>(repeating: magic), to: SIMD8<Int32>.self)
        // n ∈ [−126, 128]: split 2ⁿ = 2^(n/2) · 2^(n − n/2) so n = 128 does not overflow the exponent.
        let half = nBits &>> 1
        let s1 = unsafeBitCast((half &+ 127) &<< 23, to: SIMD8<Float>.self)
        let s2 = unsafeBitCast((nBits &- half &+ 127) &<< 23, to: SIMD8<Float>.self)
        var y = p * s1 * s2
        y.replace(with: 0, where: x .< lowCut)
        y.replace(with: .infinity, where: x .> highCut)
        y.replace(with: x, where: x .!= x)  // NaN in, NaN out
        return y
    }

    /// Scalar e^x with the same algorithm (used for loop tails, so results do not depend on
    /// where a row starts).
    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD8<Float>(repeating: x))[0] }

    /// p[i] ← e^(p[i] − shift) for i in 0..<count; returns Σ of the new values.
    @inline(__always)
    public static func expShifted(_ p: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let raw = UnsafeMutableRawPointer(p)
        let shiftV = SIMD8<Float>(repeating: shift)
        while i + 8 <= count {
            let v = exp(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - shiftV)
            raw.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += v
            i += 8
        }
        if i < count {
            var tail = SIMD8<Float>(repeating: -.infinity)
            for t in 0..<(count - i) { tail[t] = p[i + t] }
            let v = exp(tail - shiftV)
            for t in 0..<(count - i) { p[i + t] = v[t] }
            acc += v
        }
        return acc.sum()
    }

    /// max of p[0..<count]; −∞ when count is 0.
    @inline(__always)
    public static func maximum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            acc = lanewiseMax(acc, UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self))
            i += 8
        }
        var m = Swift.max(Swift.max(Swift.max(acc[0], acc[1]), Swift.max(acc[2], acc[3])),
                          Swift.max(Swift.max(acc[4], acc[5]), Swift.max(acc[6], acc[7])))
        while i < count { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// Lane-wise max/min written as compare + select, which the compiler turns into vector
    /// instructions (the standard library's generic `pointwiseMax` stays an out-of-line lane loop).
    @inline(__always)
    static func lanewiseMax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }
    @inline(__always)
    static func lanewiseMin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

    /// Σ p[0..<count] with 8 float partial sums.
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < count { s += p[i]; i += 1 }
        return s
    }
}
