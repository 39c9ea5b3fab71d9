/// A host tensor laid out [tokens, heads, headDim], sequence-major (the layout FlashAttention
/// and vLLM take). Elements are stored in their own dtype; `floats()` widens to Float.
public struct HeadTensor: Sendable {
    public enum Storage: Sendable {
        case f32([Float])
        case bits16([UInt16])  // f16 or bf16, per `dtype`
    }

    public let name: String
    public let tokens: Int
    public let heads: Int
    public let headDim: Int
    public let dtype: DType
    public let storage: Storage

    public var count: Int { tokens * heads * headDim }
    /// Element strides of [token, head, dim] for the contiguous layout.
    public var contiguousStrides: [Int] { [heads * headDim, headDim, 1] }

    /// Wraps Float values; `dtype` rounds them to f16/bf16 storage when asked.
    public init(name: String, tokens: Int, heads: Int, headDim: Int, values: [Float], dtype: DType = .f32) throws {
        guard tokens >= 0, heads > 0, headDim > 0 else {
            throw SkeletonError.shapeMismatch("\(name): tokens \(tokens), heads \(heads), headDim \(headDim) must be positive")
        }
        guard values.count == tokens * heads * headDim else {
            throw SkeletonError.shapeMismatch("\(name): \(values.count) values for shape [\(tokens), \(heads), \(headDim)] (needs \(tokens * heads * headDim))")
        }
        self.name = name; self.tokens = tokens; self.heads = heads; self.headDim = headDim; self.dtype = dtype
        switch dtype {
        case .f32: storage = .f32(values)
        case .bf16: storage = .bits16(values.map(HalfBits.floatToBF16))
        case .f16: storage = .bits16(values.map(HalfBits.floatToF16))
        }
    }

    /// Wraps raw 16-bit storage (f16 or bf16 bit patterns).
    public init(name: String, tokens: Int, heads: Int, headDim: Int, bits: [UInt16], dtype: DType) throws {
        guard dtype != .f32 else { throw SkeletonError.invalidArgument("\(name): 16-bit storage given with dtype f32") }
        guard tokens >= 0, heads > 0, headDim > 0, bits.count == tokens * heads * headDim else {
            throw SkeletonError.shapeMismatch("\(name): \(bits.count) values for shape [\(tokens), \(heads), \(headDim)]")
        }
        self.name = name; self.tokens = tokens; self.heads = heads; self.headDim = headDim; self.dtype = dtype
        storage = .bits16(bits)
    }

    /// Checks that a caller-described layout is the contiguous one this library reads.
    public static func checkContiguous(name: String, shape: [Int], strides: [Int]) throws {
        guard shape.count == 3 else {
            throw SkeletonError.shapeMismatch("\(name) must be rank 3 [N, heads, headDim], got rank \(shape.count)")
        }
        let expected = [shape[1] * shape[2], shape[2], 1]
        guard strides == expected else {
            throw SkeletonError.nonContiguous(tensor: name, strides: strides, expected: expected)
        }
    }

    /// All elements widened to Float, contiguous [tokens, heads, headDim].
    public func floats() -> [Float] {
        switch storage {
        case .f32(let v): return v
        case .bits16(let b):
            return dtype == .bf16 ? b.map(HalfBits.bf16ToFloat) : b.map(HalfBits.f16ToFloat)
        }
    }

    /// One head's rows, [tokens, headDim] contiguous.
    public func head(_ h: Int) -> [Float] {
        let all = floats()
        var out = [Float](repeating: 0, count: tokens * headDim)
        for n in 0..<tokens {
            let src = (n * heads + h) * headDim
            for d in 0..<headDim { out[n * headDim + d] = all[src + d] }
        }
        return out
    }

    /// Throws `nonFinite` naming the first NaN/Inf element.
    public func checkFinite() throws {
        let v = floats()
        if let i = v.firstIndex(where: { !$0.isFinite }) {
            throw SkeletonError.nonFinite(tensor: name, token: i / (heads * headDim),
                                          head: (i / headDim) % heads, dim: i % headDim, value: v[i])
        }
    }
}
