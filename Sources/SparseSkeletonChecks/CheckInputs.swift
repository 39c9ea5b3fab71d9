import SparseSkeleton

extension SplitMix64 {
    /// Approximately standard normal (sum of 4 uniforms, rescaled): check inputs, reproducible from
    /// the seed each check prints.
    mutating func roughNormal() -> Float {
        var s: Float = 0
        for _ in 0..<4 { s += Float.random(in: 0..<1, using: &self) }
        return (s - 2) * 1.7320508
    }
}

extension HeadTensor {
    /// Random check inputs: roughly normal values × `scale`, rounded to `dtype` (scale 1.2 gives
    /// logits with a standard deviation near 2 at any d: rows peaked as in real heads).
    static func roughNormal(name: String, tokens: Int, heads: Int, headDim: Int, dtype: DType, scale: Float,
                            rng: inout SplitMix64) throws -> HeadTensor {
        try HeadTensor(name: name, tokens: tokens, heads: heads, headDim: headDim,
                       values: (0..<(tokens * heads * headDim)).map { _ in rng.roughNormal() * scale }, dtype: dtype)
    }
}
