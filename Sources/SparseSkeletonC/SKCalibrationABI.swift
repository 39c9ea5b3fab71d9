import SparseSkeleton
import SparseSkeletonCUDA

/// sk_calibrate_time_budget: what a time-budget target needs, measured on the caller's inputs —
/// the skeleton estimator's own time at this shape and the attention kernel's cost per tile
/// (a `TileCostModel` through dense and two sparse masks the estimator picks at densities 0.3
/// and 0.1, each timed as the median of 3 runs). Synchronises `stream`; refused while the stream
/// is being captured into a CUDA graph.
func skCalibrate(_ c: SKContext, q: UInt64, k: UInt64, v: UInt64, shape: AttentionShape, dtype: DType, queryTile: Int,
                 stream: GPUStream, raw: UInt64) throws -> (estimation: Double, model: TileCostModel) {
    guard try !stream.isCapturing() else {
        throw skInvalid("sk_calibrate_time_budget synchronises and cannot run inside a CUDA-graph capture: calibrate before capturing")
    }
    let e = shape.headDim * dtype.byteSize, n = shape.tokens
    let qb = DeviceBuffer(device: c.device, borrowing: q, byteCount: n * shape.queryHeads * e)
    let kb = DeviceBuffer(device: c.device, borrowing: k, byteCount: n * shape.kvHeads * e)
    let vb = DeviceBuffer(device: c.device, borrowing: v, byteCount: n * shape.kvHeads * e)
    let o = try DeviceBuffer(device: c.device, byteCount: n * shape.queryHeads * e)
    let lse = try DeviceBuffer(device: c.device, byteCount: n * shape.queryHeads * 4)
    let g = try TileGeometry(tokens: n, queryTile: queryTile, keyTile: 64)
    let entry = try c.estimator(0, shape: shape, queryTile: queryTile, dtype: dtype)
    try entry.acquire(stream, raw: raw, capturing: false)
    defer { try? entry.release(stream, raw: raw, capturing: false) }
    guard let est = entry.estimator as? GPUSkeletonEstimator else {
        throw SKFailure(status: .other, message: "the skeleton estimator is not a GPUSkeletonEstimator")
    }
    let measured = try est.measureEstimationTime(q: qb, k: kb, shape: shape, dtype: dtype, geometry: g, stream: stream)
    let traits = try FlashKernelTraits.default(headDim: shape.headDim, geometry: g, dtype: dtype)
    var points: [(tiles: Double, ms: Double)] = []
    // the line is the mask kernel's (its key tiles at every point), not the wider-tile dense forward
    c.gpu.attention.denseKeyTiles128 = false
    defer { c.gpu.attention.denseKeyTiles128 = true }
    for density in [1.0, 0.3, 0.1] {
        let mask: DeviceBlockMask? = density == 1 ? nil
            : try est.estimate(q: qb, k: kb, shape: shape, dtype: dtype, geometry: g, target: .density(density), stream: stream).mask
        let tiles = try mask?.stats().keptTiles ?? shape.queryHeads * g.causalTilesPerHead
        try c.gpu.attention.forward(shape: shape, traits: traits, q: qb, k: kb, v: vb, o: o, lse: lse, mask: mask, stream: stream)
        var times: [Double] = []
        for _ in 0..<3 {
            let start = try GPUEvent(device: c.device), end = try GPUEvent(device: c.device)
            try start.record(on: stream)
            try c.gpu.attention.forward(shape: shape, traits: traits, q: qb, k: kb, v: vb, o: o, lse: lse, mask: mask, stream: stream)
            try end.record(on: stream)
            try end.synchronize()
            times.append(try end.milliseconds(since: start))
        }
        points.append((Double(tiles), times.sorted()[1]))
    }
    let model = try TileCostModel.fit(headDim: shape.headDim, dtype: dtype, tokens: n, points: points)
    c.costModels[SKContext.costKey(headDim: shape.headDim, dtype: dtype)] = model
    c.estimationTimes[SKContext.timeKey(shape: shape, queryTile: queryTile)] = measured
    return (measured.milliseconds, model)
}

@_cdecl("sk_calibrate_time_budget")
public func sk_calibrate_time_budget(_ ctx: OpaquePointer?, _ q: UInt64, _ k: UInt64, _ v: UInt64,
                                     _ tokens: Int32, _ qHeads: Int32, _ kvHeads: Int32, _ headDim: Int32, _ dtype: Int32,
                                     _ queryTile: Int32, _ stream: UInt64,
                                     _ estimationMs: UnsafeMutablePointer<Double>?, _ fixedMs: UnsafeMutablePointer<Double>?,
                                     _ perTileNs: UnsafeMutablePointer<Double>?,
                                     _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skCall(ctx, err, errLen) { c in
        let p = try skProblem(1, tokens, nil, qHeads, kvHeads, headDim, dtype, queryTile)
        guard q != 0, k != 0, v != 0 else { throw skInvalid("q, k and v must be non-null device pointers") }
        let st = GPUStream(device: c.device, borrowing: stream)
        let r = try skCalibrate(c, q: q, k: k, v: v, shape: p.sequences[0].shape, dtype: p.dtype, queryTile: p.queryTile, stream: st, raw: stream)
        estimationMs?.pointee = r.estimation
        fixedMs?.pointee = r.model.fixedMs
        perTileNs?.pointee = r.model.perTileMs * 1e6
    }
}
