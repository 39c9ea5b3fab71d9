import SparseSkeleton

/// The sequences of one call and where each one's data lies in the caller's buffers: B
/// sequences of equal length N (cuSeqlens null: q is [B, N, Hq, d]) or packed sequences of any
/// lengths (cuSeqlens: B + 1 ascending host offsets from 0, q is [total, Hq, d]).
/// Per sequence s (tokens n_s starting at token t_s):
/// - q, o at t_s · Hq · d elements, k, v at t_s · Hkv · d; LSE at t_s · Hq floats ([Hq, n_s]);
/// - its CSR mask: rowOffsets at Σ_{r<s} (Hq · qb_r + 1) Int32, keyBlocks at Σ_{r<s} Hq · causal_r
///   Int32 (qb = query blocks, causal = causal tiles per head of the sequence's tile geometry).
struct SKProblem {
    struct Sequence {
        let start: Int
        let shape: AttentionShape
        let geometry: TileGeometry
        let rowOffsetsStart: Int
        let keyBlocksStart: Int
        var rowOffsetsCount: Int { shape.queryHeads * geometry.queryBlocks + 1 }
        var keyBlocksCount: Int { shape.queryHeads * geometry.causalTilesPerHead }
    }

    let sequences: [Sequence]
    let dtype: DType
    let queryHeads: Int
    let kvHeads: Int
    let headDim: Int
    let queryTile: Int
    let totalTokens: Int
    let rowOffsetsCount: Int
    let keyBlocksCount: Int
    var maxTokens: Int { sequences.map(\.shape.tokens).max() ?? 0 }

    init(batch: Int32, tokens: Int32, cuSeqlens: UnsafePointer<Int32>?, qHeads: Int32, kvHeads: Int32, headDim: Int32,
         dtype: Int32, queryTile: Int32) throws {
        self.dtype = try skDType(dtype)
        self.queryTile = try skQueryTile(queryTile)
        guard qHeads > 0, kvHeads > 0 else { throw skInvalid("qHeads and kvHeads must be positive (got \(qHeads), \(kvHeads))") }
        guard qHeads % kvHeads == 0 else { throw skInvalid("qHeads (\(qHeads)) must be a multiple of kvHeads (\(kvHeads))") }
        guard SkeletonError.supportedHeadDims.contains(Int(headDim)) else {
            throw skInvalid("head dim \(headDim) unsupported (supported: \(SkeletonError.supportedHeadDims.sorted()))")
        }
        guard batch > 0 else { throw skInvalid("batch must be ≥ 1 sequence, got \(batch)") }
        var bounds: [(Int, Int)] = []
        if let cu = cuSeqlens {
            guard cu[0] == 0 else { throw skInvalid("cuSeqlens[0] must be 0, got \(cu[0])") }
            for s in 0..<Int(batch) {
                let a = Int(cu[s]), b = Int(cu[s + 1])
                guard b > a else { throw skInvalid("cuSeqlens must increase strictly (sequence \(s): \(a) → \(b)); empty sequences are not allowed") }
                bounds.append((a, b - a))
            }
        } else {
            guard tokens > 0 else { throw skInvalid("tokens must be positive, got \(tokens)") }
            for s in 0..<Int(batch) { bounds.append((s * Int(tokens), Int(tokens))) }
        }
        guard let last = bounds.last, last.0 + last.1 <= Int(Int32.max) / Int(qHeads) else {
            throw skInvalid("total tokens × heads exceeds the 32-bit index range")
        }
        var seqs: [Sequence] = []
        var ro = 0, kb = 0
        for (start, n) in bounds {
            let shape = try AttentionShape(tokens: n, queryHeads: Int(qHeads), kvHeads: Int(kvHeads), headDim: Int(headDim))
            let g = try TileGeometry(tokens: n, queryTile: self.queryTile, keyTile: 64)
            let seq = Sequence(start: start, shape: shape, geometry: g, rowOffsetsStart: ro, keyBlocksStart: kb)
            ro += seq.rowOffsetsCount; kb += seq.keyBlocksCount
            seqs.append(seq)
        }
        sequences = seqs
        queryHeads = Int(qHeads); self.kvHeads = Int(kvHeads); self.headDim = Int(headDim)
        totalTokens = last.0 + last.1
        rowOffsetsCount = ro; keyBlocksCount = kb
    }

    /// Bytes of the scratch LSE a forward needs when the caller passes lse = 0.
    var scratchLSEBytes: Int { maxTokens * queryHeads * 4 }
}
