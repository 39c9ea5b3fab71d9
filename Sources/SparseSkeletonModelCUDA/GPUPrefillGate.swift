import SparseSkeleton

/// The profitability gate of a GPU-estimated prefill: per layer, before its mask is estimated, the
/// cost model decides from the layer's predicted density whether estimate + sparse attention beats
/// dense attention; where it does not, the layer runs dense and no estimate is made.
public struct GPUPrefillGate: Sendable {
    public var gate: ProfitabilityGate
    /// Predicted density per layer (kernel geometry); one entry serves every layer.
    public var predictedDensity: [Double]
    /// The estimator's parameters (its probe rows set the estimate's predicted cost).
    public var estimatorParameters: SkeletonParameters

    public init(gate: ProfitabilityGate, predictedDensity: [Double], estimatorParameters: SkeletonParameters = .growingStride) throws {
        guard !predictedDensity.isEmpty else { throw SkeletonError.invalidArgument("the prefill gate needs at least one predicted density") }
        self.gate = gate; self.predictedDensity = predictedDensity; self.estimatorParameters = estimatorParameters
    }

    public func density(layer: Int) throws -> Double {
        if predictedDensity.count == 1 { return predictedDensity[0] }
        guard layer >= 0, layer < predictedDensity.count else {
            throw SkeletonError.invalidArgument("the prefill gate predicts \(predictedDensity.count) layers, layer \(layer) asked")
        }
        return predictedDensity[layer]
    }

    public func decide(layer: Int, shape: AttentionShape, dtype: DType, geometry: TileGeometry) throws -> ProfitabilityGate.Decision {
        try gate.decide(shape: shape, dtype: dtype, geometry: geometry, predictedDensity: try density(layer: layer), parameters: estimatorParameters)
    }
}
