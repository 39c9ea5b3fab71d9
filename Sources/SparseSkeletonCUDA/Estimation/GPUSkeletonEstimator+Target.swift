import SparseSkeleton

extension GPUSkeletonEstimator: DeviceMaskEstimator {
    public var name: String { "skeleton" }

    public func estimateMask(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry: TileGeometry,
                             spec: AttentionSpec, target: MaskTarget, stream: GPUStream) throws -> DeviceBlockMask {
        try estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, spec: spec, target: target, stream: stream).mask
    }

    /// The estimator's measured time (milliseconds, median) for one attention shape.
    public struct EstimationTime: Sendable, Equatable {
        public let shape: AttentionShape
        public let milliseconds: Double
        public init(shape: AttentionShape, milliseconds: Double) { self.shape = shape; self.milliseconds = milliseconds }
    }

    /// The error-bound or density target `estimate` runs. A time budget covers estimation +
    /// attention: the measured estimation time comes off first and `costModel` turns the rest
    /// into a tile budget over the causal tiles (at least the always-kept ones), i.e. a density.
    public func tileTarget(_ target: MaskTarget, shape: AttentionShape, dtype: DType, geometry: TileGeometry) throws -> MaskTarget {
        try Self.tileTarget(target, costModel: costModel, estimationTime: estimationTime, alwaysKeep: parameters.alwaysKeep,
                            shape: shape, dtype: dtype, geometry: geometry)
    }

    static func tileTarget(_ target: MaskTarget, costModel: TileCostModel?, estimationTime: EstimationTime?, alwaysKeep: AlwaysKeep,
                           shape: AttentionShape, dtype: DType, geometry g: TileGeometry) throws -> MaskTarget {
        let target = try target.validated()
        guard case .timeBudget(let ms) = target else { return target }
        guard let model = costModel else {
            throw SkeletonError.invalidArgument("the GPU skeleton estimator needs a cost model for a time budget (\(ms) ms): set costModel to a TileCostModel fitted from timed attention at a few densities (TileCostModel.fit, as skeleton gpu-bench --budget-ms does) and estimationTime by measureEstimationTime, or give ε or a density")
        }
        guard model.headDim == shape.headDim, model.dtype == dtype else {
            throw SkeletonError.invalidArgument("the cost model is for \(model.dtype.rawValue) d\(model.headDim), the inputs are \(dtype.rawValue) d\(shape.headDim): fit one for this head dim and dtype")
        }
        guard let measured = estimationTime else {
            throw SkeletonError.invalidArgument("a time budget (\(ms) ms) needs the estimator's own time at this shape: call measureEstimationTime first")
        }
        guard measured.shape == shape else {
            throw SkeletonError.invalidArgument("the estimation time was measured for \(measured.shape), the inputs are \(shape): measure it again")
        }
        let heads = shape.queryHeads
        let causalTiles = heads * (try TileMasses(geometry: g, heads: 1)).tilesPerHead
        let minimumTiles = heads * alwaysKeptTilesPerHead(alwaysKeep, geometry: g)
        return .density(model.density(budgetMs: ms, estimationMs: measured.milliseconds, causalTiles: causalTiles, minimumTiles: minimumTiles))
    }

    /// Always-kept (sink + local) tiles of one head.
    static func alwaysKeptTilesPerHead(_ alwaysKeep: AlwaysKeep, geometry g: TileGeometry) -> Int {
        var always = 0
        for qb in 0..<g.queryBlocks { always += alwaysKeep.keyBlocks(queryBlock: qb, geometry: g).count }
        return always
    }

    /// Times the estimator on these inputs (budget mode at density 0.1; one warm-up, then the
    /// median of `runs`), stores it as `estimationTime` and returns it. Synchronises `stream`.
    @discardableResult
    public func measureEstimationTime(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry: TileGeometry,
                                      stream: GPUStream, runs: Int = 5) throws -> EstimationTime {
        guard runs >= 1 else { throw SkeletonError.invalidArgument("measureEstimationTime needs ≥ 1 run, got \(runs)") }
        func once() throws { _ = try estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: geometry, target: .density(0.1), stream: stream) }
        try once()
        try stream.synchronize()
        var times: [Double] = []
        for _ in 0..<runs {
            let start = try GPUEvent(device: device), end = try GPUEvent(device: device)
            try start.record(on: stream)
            try once()
            try end.record(on: stream)
            try end.synchronize()
            times.append(try end.milliseconds(since: start))
        }
        let measured = EstimationTime(shape: shape, milliseconds: times.sorted()[runs / 2])
        estimationTime = measured
        return measured
    }
}
