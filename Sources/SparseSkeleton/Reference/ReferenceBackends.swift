/// Dense causal attention on the CPU as a pluggable `AttentionBackend` (model prefill's baseline).
public final class DenseReferenceBackend: AttentionBackend {
    public let precision: ReferenceAttention.Precision
    public var name: String { precision == .float32 ? "dense-cpu" : "dense-cpu-f64" }

    public init(precision: ReferenceAttention.Precision = .float32) { self.precision = precision }

    public func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult {
        try ReferenceAttention.dense(inputs, spec: spec, precision: precision)
    }
}

/// Block-sparse causal attention on the CPU: for every layer a mask is produced (by an estimator
/// or any closure) and exactly its tiles are computed with `ReferenceAttention.masked`.
/// Keeps the density of every layer it ran, so callers can report the mean.
public final class MaskedReferenceBackend: AttentionBackend {
    /// Produces the mask of one layer from that layer's Q/K/V and attention spec.
    public typealias MaskProvider = (_ inputs: AttentionInputs, _ layer: Int, _ spec: AttentionSpec) throws -> BlockMask

    public let name: String
    private let provider: (_ inputs: AttentionInputs, _ layer: Int, _ spec: AttentionSpec) throws -> (BlockMask, MeanCorrection?)
    /// Density of each layer's mask (over the tiles its spec reaches), in call order, as (layer, density).
    public private(set) var densities: [(layer: Int, density: Double)] = []

    public init(name: String, maskProvider: @escaping MaskProvider) {
        self.name = name
        self.provider = { inputs, layer, spec in (try maskProvider(inputs, layer, spec), nil) }
    }

    /// Masks from the skeleton at a fixed target, with the dropped tiles added back at zeroth order
    /// from its own tile masses (`MeanCorrection`).
    public init(meanCorrected skeleton: SkeletonEstimator, target: MaskTarget, queryTile: Int = 64, keyTile: Int = 64) throws {
        let target = try target.validated()
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) {
            throw SkeletonError.unsupportedTileSize(t)
        }
        name = "\(skeleton.name)+mean-correction@\(target)"
        provider = { inputs, _, spec in
            let geometry = try TileGeometry(tokens: inputs.shape.tokens, queryTile: queryTile, keyTile: keyTile)
            let (estimate, masses) = try skeleton.estimateWithMasses(inputs, geometry: geometry, spec: spec, target: target)
            return (estimate.mask, try MeanCorrection(masses: masses, mask: estimate.mask, inputs: inputs, spec: spec))
        }
    }

    /// Masks that do not depend on the layer's spec (recorded ones, a fixed pattern).
    public convenience init(name: String, maskProvider: @escaping (_ inputs: AttentionInputs, _ layer: Int) throws -> BlockMask) {
        self.init(name: name) { inputs, layer, _ in try maskProvider(inputs, layer) }
    }

    /// Masks from an estimator at a fixed target and tile geometry (query and key tile sizes).
    public convenience init(estimator: MaskEstimator, target: MaskTarget, queryTile: Int = 64, keyTile: Int = 64) throws {
        let target = try target.validated()
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) {
            throw SkeletonError.unsupportedTileSize(t)
        }
        self.init(name: "\(estimator.name)@\(target)") { inputs, _, spec in
            let geometry = try TileGeometry(tokens: inputs.shape.tokens, queryTile: queryTile, keyTile: keyTile)
            return try estimator.estimate(inputs, geometry: geometry, spec: spec, target: target).mask
        }
    }

    public func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult {
        let (mask, correction) = try provider(inputs, layer, spec)
        let result = try ReferenceAttention.masked(inputs, mask: mask, spec: spec, correction: correction)
        densities.append((layer, result.density))
        return result
    }

    /// Mean mask density over the layers run so far (1 when none ran).
    public var meanDensity: Double {
        densities.isEmpty ? 1 : densities.reduce(0) { $0 + $1.density } / Double(densities.count)
    }
}
