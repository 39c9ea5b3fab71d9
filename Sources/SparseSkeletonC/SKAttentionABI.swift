import SparseSkeleton
import SparseSkeletonCUDA

/// Byte views of one sequence's slices of the caller's buffers (layout: SKProblem).
struct SKSequenceBuffers {
    let q, k, v, o, lse: DeviceBuffer?
    let rowOffsets, keyBlocks: DeviceBuffer?

    init(device: GPUDevice, problem p: SKProblem, sequence s: SKProblem.Sequence,
         q: UInt64, k: UInt64, v: UInt64 = 0, o: UInt64 = 0, lse: UInt64 = 0, rowOffsets: UInt64 = 0, keyBlocks: UInt64 = 0) {
        let e = p.dtype.byteSize, d = p.headDim, n = s.shape.tokens
        func view(_ base: UInt64, _ offset: Int, _ bytes: Int) -> DeviceBuffer? {
            base == 0 ? nil : DeviceBuffer(device: device, borrowing: base + UInt64(offset), byteCount: bytes)
        }
        self.q = view(q, s.start * p.queryHeads * d * e, n * p.queryHeads * d * e)
        self.o = view(o, s.start * p.queryHeads * d * e, n * p.queryHeads * d * e)
        self.k = view(k, s.start * p.kvHeads * d * e, n * p.kvHeads * d * e)
        self.v = view(v, s.start * p.kvHeads * d * e, n * p.kvHeads * d * e)
        self.lse = view(lse, s.start * p.queryHeads * 4, n * p.queryHeads * 4)
        self.rowOffsets = view(rowOffsets, s.rowOffsetsStart * 4, s.rowOffsetsCount * 4)
        self.keyBlocks = view(keyBlocks, s.keyBlocksStart * 4, s.keyBlocksCount * 4)
    }
}

func skProblem(_ batch: Int32, _ tokens: Int32, _ cuSeqlens: UnsafePointer<Int32>?, _ qHeads: Int32, _ kvHeads: Int32,
               _ headDim: Int32, _ dtype: Int32, _ queryTile: Int32) throws -> SKProblem {
    try SKProblem(batch: batch, tokens: tokens, cuSeqlens: cuSeqlens, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                  dtype: dtype, queryTile: queryTile)
}

@_cdecl("sk_mask_size")
public func sk_mask_size(_ batch: Int32, _ tokens: Int32, _ cuSeqlens: UnsafePointer<Int32>?, _ qHeads: Int32, _ kvHeads: Int32,
                         _ headDim: Int32, _ dtype: Int32, _ queryTile: Int32,
                         _ rowOffsetsCount: UnsafeMutablePointer<Int64>?, _ keyBlocksCount: UnsafeMutablePointer<Int64>?,
                         _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skRun(err, errLen) {
        guard let rowOffsetsCount, let keyBlocksCount else { throw skInvalid("rowOffsetsCount and keyBlocksCount must be non-null") }
        let p = try skProblem(batch, tokens, cuSeqlens, qHeads, kvHeads, headDim, dtype, queryTile)
        rowOffsetsCount.pointee = Int64(p.rowOffsetsCount)
        keyBlocksCount.pointee = Int64(p.keyBlocksCount)
    }
}

@_cdecl("sk_workspace_size")
public func sk_workspace_size(_ batch: Int32, _ tokens: Int32, _ cuSeqlens: UnsafePointer<Int32>?, _ qHeads: Int32, _ kvHeads: Int32,
                              _ headDim: Int32, _ dtype: Int32, _ queryTile: Int32, _ bytes: UnsafeMutablePointer<Int64>?,
                              _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skRun(err, errLen) {
        guard let bytes else { throw skInvalid("bytes must be non-null") }
        let p = try skProblem(batch, tokens, cuSeqlens, qHeads, kvHeads, headDim, dtype, queryTile)
        bytes.pointee = Int64(p.scratchLSEBytes)
    }
}

@_cdecl("sk_attention_forward")
public func sk_attention_forward(_ ctx: OpaquePointer?, _ q: UInt64, _ k: UInt64, _ v: UInt64, _ o: UInt64, _ lse: UInt64,
                                 _ batch: Int32, _ tokens: Int32, _ cuSeqlens: UnsafePointer<Int32>?,
                                 _ qHeads: Int32, _ kvHeads: Int32, _ headDim: Int32, _ dtype: Int32,
                                 _ causal: Int32, _ softmaxScale: Double, _ window: Int32,
                                 _ rowOffsets: UInt64, _ keyBlocks: UInt64, _ queryTile: Int32,
                                 _ workspace: UInt64, _ workspaceBytes: Int64,
                                 _ stream: UInt64, _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skCall(ctx, err, errLen) { c in
        let p = try skProblem(batch, tokens, cuSeqlens, qHeads, kvHeads, headDim, dtype, queryTile)
        let spec = try skAttentionSpec(causal: causal, softmaxScale: softmaxScale, window: window)
        guard q != 0, k != 0, v != 0, o != 0 else { throw skInvalid("q, k, v and o must be non-null device pointers") }
        guard (rowOffsets == 0) == (keyBlocks == 0) else { throw skInvalid("rowOffsets and keyBlocks must both be 0 (dense) or both set") }
        var scratch: DeviceBuffer? = nil
        if lse == 0 {
            guard workspace != 0, workspaceBytes >= Int64(p.scratchLSEBytes) else {
                throw skInvalid("with lse = 0 the workspace must hold \(p.scratchLSEBytes) B (sk_workspace_size), got \(workspace == 0 ? 0 : workspaceBytes) B")
            }
            scratch = DeviceBuffer(device: c.device, borrowing: workspace, byteCount: Int(workspaceBytes))
        }
        let st = GPUStream(device: c.device, borrowing: stream)
        for s in p.sequences {
            let b = SKSequenceBuffers(device: c.device, problem: p, sequence: s, q: q, k: k, v: v, o: o, lse: lse,
                                      rowOffsets: rowOffsets, keyBlocks: keyBlocks)
            let traits = try FlashKernelTraits.default(headDim: p.headDim, geometry: s.geometry, dtype: p.dtype)
            var mask: DeviceBlockMask? = nil
            if let ro = b.rowOffsets, let kb = b.keyBlocks {
                mask = try DeviceBlockMask(geometry: s.geometry, heads: p.queryHeads, rowOffsets: ro, keyBlocks: kb)
            }
            guard let qb = b.q, let kb = b.k, let vb = b.v, let ob = b.o, let lb = b.lse ?? scratch else {
                throw skInvalid("missing buffer")
            }
            try c.gpu.attention.forward(shape: s.shape, traits: traits, q: qb, k: kb, v: vb, o: ob, lse: lb, mask: mask, spec: spec, stream: st)
        }
    }
}

@_cdecl("sk_estimate_mask")
public func sk_estimate_mask(_ ctx: OpaquePointer?, _ q: UInt64, _ k: UInt64,
                             _ batch: Int32, _ tokens: Int32, _ cuSeqlens: UnsafePointer<Int32>?,
                             _ qHeads: Int32, _ kvHeads: Int32, _ headDim: Int32, _ dtype: Int32,
                             _ causal: Int32, _ softmaxScale: Double, _ window: Int32,
                             _ estimator: Int32, _ targetKind: Int32, _ targetValue: Double, _ queryTile: Int32,
                             _ rowOffsets: UInt64, _ keyBlocks: UInt64,
                             _ stream: UInt64, _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skCall(ctx, err, errLen) { c in
        let p = try skProblem(batch, tokens, cuSeqlens, qHeads, kvHeads, headDim, dtype, queryTile)
        let spec = try skAttentionSpec(causal: causal, softmaxScale: softmaxScale, window: window)
        let target = try skMaskTarget(kind: targetKind, value: targetValue)
        _ = try SKContext.estimatorName(estimator)
        guard q != 0, k != 0 else { throw skInvalid("q and k must be non-null device pointers") }
        guard rowOffsets != 0, keyBlocks != 0 else { throw skInvalid("rowOffsets and keyBlocks must be non-null (sizes: sk_mask_size)") }
        let st = GPUStream(device: c.device, borrowing: stream)
        let calls = try SKDriverCalls.load()
        let capturing = try st.isCapturing()
        for s in p.sequences {
            let b = SKSequenceBuffers(device: c.device, problem: p, sequence: s, q: q, k: k, rowOffsets: rowOffsets, keyBlocks: keyBlocks)
            guard let qb = b.q, let kb = b.k, let ro = b.rowOffsets, let kbk = b.keyBlocks else { throw skInvalid("missing buffer") }
            let e = try c.estimator(estimator, shape: s.shape, queryTile: p.queryTile, dtype: p.dtype)
            try e.acquire(st, raw: stream, capturing: capturing)
            let m = try e.estimator.estimateMask(q: qb, k: kb, shape: s.shape, dtype: p.dtype, geometry: s.geometry, spec: spec,
                                                 target: target, stream: st)
            // the estimator's CSR lives in its workspace: copy it out on the same stream, so the
            // next estimate (queued after it) may overwrite the workspace and never the caller's mask
            try calls.copy(to: ro.pointer, from: m.rowOffsets.pointer, bytes: ro.byteCount, stream: st)
            try calls.copy(to: kbk.pointer, from: m.keyBlocks.pointer, bytes: min(kbk.byteCount, m.keyBlocks.byteCount), stream: st)
            try e.release(st, raw: stream, capturing: capturing)
        }
    }
}
