import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// How each layer's attention is computed on the GPU.
public enum GPUAttentionMode {
    /// Every causal tile (the sparse kernel with no mask).
    case dense
    /// The skeleton mask estimated on the GPU (`GPUSkeletonEstimator`) from the layer's device
    /// Q/K, on the prefill's stream, then attention with that mask: no host round trip. The
    /// default sparse mode.
    case gpuEstimated(SkeletonParameters, MaskTarget)
    /// The mask estimated on the GPU by any `DeviceMaskEstimator` (e.g. `GPUMInferenceEstimator`)
    /// at `target`, the same way: on the prefill's stream, no host round trip. The estimator's
    /// workspace (and so its mask) is reused per layer, which the stream order makes safe.
    case deviceEstimated(DeviceMaskEstimator, MaskTarget)
    /// A block mask per layer from a core `MaskEstimator` on the CPU: the layer's post-RoPE Q and
    /// K (bf16) are copied back to the host, estimated there, and the CSR mask is uploaded (a
    /// host round trip per layer; for estimators that have no GPU version, and for reference).
    case hostEstimated(MaskEstimator, MaskTarget)

    /// The GPU skeleton estimator with its default parameters at `target`.
    public static func skeleton(_ target: MaskTarget = .recommended) -> GPUAttentionMode {
        .gpuEstimated(.growingStride, target)
    }

    public var name: String {
        switch self {
        case .dense: return "dense"
        case .gpuEstimated(_, let t): return "skeleton-gpu@\(t)"
        case .deviceEstimated(let e, let t): return "\(e.name)-gpu@\(t)"
        case .hostEstimated(let e, let t): return "\(e.name)-cpu@\(t)"
        }
    }

    public var target: MaskTarget? {
        switch self {
        case .dense: return nil
        case .gpuEstimated(_, let t), .deviceEstimated(_, let t), .hostEstimated(_, let t): return t
        }
    }

    /// True when the masks are estimated on the GPU (`.gpuEstimated`, `.deviceEstimated`).
    public var estimatesOnDevice: Bool {
        switch self {
        case .gpuEstimated, .deviceEstimated: return true
        case .dense, .hostEstimated: return false
        }
    }
}

/// What one GPU prefill measured. GPU times come from CUDA events on the prefill's stream.
/// `estimationMs` is, for `.gpuEstimated` / `.deviceEstimated`, the sum over layers of CUDA events around each
/// estimate (device time, inside `totalMs`); for `.hostEstimated`, host wall-clock (Q/K
/// download, CPU estimation, mask upload) during which the GPU waits, also inside `totalMs`.
public struct GPUPrefillTimings: Sendable {
    /// Time to first token: embedding gather to the last position's logits (CUDA events).
    public let totalMs: Double
    /// Sum over layers of the attention kernel alone (CUDA events around each launch).
    public let attentionMs: Double
    /// Time spent producing masks (0 for dense).
    public let estimationMs: Double
    /// Per layer: attention kernel ms and estimation ms.
    public let layerAttentionMs: [Double]
    public let layerEstimationMs: [Double]
    /// Everything else: norms, projections (cuBLAS), RoPE, MLP, residuals, logits.
    public var otherMs: Double { max(0, totalMs - attentionMs - estimationMs) }
    /// Mask density of each layer (1 for dense). Empty for a timed GPU-estimated run: its
    /// masks stay on the device (reading them back would sit inside the timed region); a run with
    /// `recordMasks` has them.
    public let layerDensities: [Double]
    public var meanDensity: Double? { layerDensities.isEmpty ? nil : layerDensities.reduce(0, +) / Double(layerDensities.count) }
    /// True when the run synchronised and read masks / Q/K back per layer (its times are not TTFT).
    public let recorded: Bool
    /// GPU-estimated modes: host wall-clock spent enqueueing the estimates (their launches), summed
    /// over layers. Well under `estimationMs` means the GPU, not the host, sets the pace.
    public let estimateEnqueueMs: Double
    /// GPU-estimated modes under a `gate`: per layer, true where the gate ran it dense (no estimate).
    public let layerGatedDense: [Bool]
}

/// Bf16 bit patterns of one layer's post-RoPE Q [N, heads, d] and K [N, kvHeads, d] as the GPU
/// attention and estimator saw them.
public struct GPULayerQK: Sendable {
    public let layer: Int
    public let q: [UInt16]
    public let k: [UInt16]
    /// As AttentionInputs in Float (exact: bf16 → f32), V absent.
    public func inputs(shape: AttentionShape) throws -> AttentionInputs {
        try AttentionInputs(shape: shape, q: q.map(HalfBits.bf16ToFloat), k: k.map(HalfBits.bf16ToFloat), v: nil)
    }
}

/// What a prefill should read back per layer besides the logits (untimed runs only: each read
/// synchronises the stream).
public struct GPUPrefillRecording: Sendable {
    /// Download every layer's mask (sparse modes) into `GPUPrefillResult.layerMasks`.
    public var masks: Bool
    /// Layers whose bf16 Q/K are downloaded into `GPUPrefillResult.layerQK`.
    public var qkLayers: Set<Int>
    public init(masks: Bool = true, qkLayers: Set<Int> = []) { self.masks = masks; self.qkLayers = qkLayers }
    public static let none = GPUPrefillRecording(masks: false)
    var active: Bool { masks || !qkLayers.isEmpty }
}

public struct GPUPrefillResult: Sendable {
    public let tokens: Int
    /// Logits of the last position, [V].
    public let lastLogits: [Float]
    public let timings: GPUPrefillTimings
    /// Per layer, the mask its attention used (sparse modes, when recorded).
    public let layerMasks: [BlockMask]
    /// The recorded layers' Q/K (`GPUPrefillRecording.qkLayers`).
    public let layerQK: [GPULayerQK]
}

/// One layer's attention as a prefill ran it (`GPUModelPrefill.attentionTap`): post-RoPE Q
/// [N, heads, d], K and V [N, kvHeads, d], the output O [N, heads, d] (all 16-bit `dtype`) and the
/// row LSE [heads, N] fp32 (natural log) on the device. Valid during the tap's call only.
public struct GPULayerAttention {
    public let layer: Int
    public let shape: AttentionShape
    public let spec: AttentionSpec
    public let dtype: DType
    public let q, k, v, o, lse: DeviceBuffer

    public init(layer: Int, shape: AttentionShape, spec: AttentionSpec, dtype: DType, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                o: DeviceBuffer, lse: DeviceBuffer) {
        self.layer = layer; self.shape = shape; self.spec = spec; self.dtype = dtype
        self.q = q; self.k = k; self.v = v; self.o = o; self.lse = lse
    }
}
