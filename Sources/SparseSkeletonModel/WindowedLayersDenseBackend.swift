import SparseSkeleton

/// Sparse attention where it pays: layers with a sliding window (Gemma-3's local layers) attend
/// densely within their window, every other layer goes to `sparse` (any estimator's masks).
public final class WindowedLayersDenseBackend: AttentionBackend {
    public let sparse: AttentionBackend
    let dense = DenseReferenceBackend()

    public init(sparse: AttentionBackend) { self.sparse = sparse }

    public var name: String { "\(sparse.name) (windowed layers dense)" }

    public func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult {
        spec.window == nil ? try sparse.attend(inputs, layer: layer, spec: spec) : try dense.attend(inputs, layer: layer, spec: spec)
    }
}
