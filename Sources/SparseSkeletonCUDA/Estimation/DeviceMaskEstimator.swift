import SparseSkeleton

/// Anything that turns device Q and K into a device block mask: the GPU skeleton and the GPU
/// MInference estimators. The GPU prefill, the C ABI and the checks take any of them.
///
/// The estimate is queued on `stream` (asynchronous); the returned mask may live in the
/// estimator's workspace and stays valid until its next estimate. An estimator refuses a target
/// or spec it cannot meet with one clear error (e.g. a time budget without a cost model).
public protocol DeviceMaskEstimator: AnyObject {
    /// The name used on the command line and in tables ("skeleton", "minference").
    var name: String { get }
    /// q: [N, queryHeads, d], k: [N, kvHeads, d], 16-bit `dtype`, contiguous.
    func estimateMask(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry: TileGeometry,
                      spec: AttentionSpec, target: MaskTarget, stream: GPUStream) throws -> DeviceBlockMask
}
