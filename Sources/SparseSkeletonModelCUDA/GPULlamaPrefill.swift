import Dispatch
import Foundation
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

/// A Llama-family prefill on one GPU, batch 1, the CPU model's maths (LlamaModel) in bf16/fp32:
///
///     x = E[tokens]                                          fp32 residual stream [N, E]
///     per layer:  h = bf16(RMSNorm(x)·g₁);  [q|k|v] = h·W_qkvᵀ (cuBLAS, fp32 out)
///                 q, k ← RoPE (half-split, angles from Double on the host);  q, k, v → bf16
///                 o = Attention(q, k, v)  (block-sparse FlashAttention; dense = no mask)
///                 x += o·W_oᵀ;  h = bf16(RMSNorm(x)·g₂);  [g|u] = h·W_guᵀ
///                 x += bf16(silu(g) ⊙ u)·W_dᵀ
///     logits = bf16(RMSNorm(x[N−1])·g)·W_vocabᵀ
///
/// Matrix products: bf16 operands, fp32 accumulation and output (residual adds fused into the
/// product as β = 1). The final activations stay on the device for `logits(rows:)`.
public final class GPULlamaPrefill: @unchecked Sendable {
    public let device: GPUDevice
    public let config: LlamaConfig
    public let weights: GPULlamaWeights
    public let queryTile: Int, keyTile: Int
    let stream: GPUStream
    public let library: KernelLibrary
    let blas: CUBLASLibrary
    let kernels: ModelKernels
    let attention: SparseFlashAttention
    private var work: Workspace?
    /// One GPU skeleton estimator for every layer and run: its workspace (and so the mask it
    /// returns) is reused per layer, which the stream order makes safe (layer L's attention is
    /// queued before layer L + 1's estimate overwrites the mask).
    private var skeletonEstimator: GPUSkeletonEstimator?
    /// The last layer's mask of the last GPU-estimated run, still on the device (the estimator's
    /// workspace holds it until its next estimate): read it back after a timed run, e.g. to check
    /// that the timed run built the same mask as a recorded one.
    public private(set) var lastEstimatedMask: DeviceBlockMask?
    /// Profitability gate of the GPU-estimated modes (nil: every layer sparse): a layer the gate
    /// predicts no gain for runs dense, without an estimate.
    public var gate: GPUPrefillGate?

    /// Device buffers for one prompt length.
    struct Workspace {
        let tokens: Int
        let ids, x, h, qkv, q, k, v, o, lse, gateUp, act, hLast, logits, cos, sin: DeviceBuffer
    }

    public var cublasPath: String { blas.path }

    public init(library: KernelLibrary, weights: LlamaWeights, queryTile: Int = 128, keyTile: Int = 64) throws {
        device = library.device
        self.library = library
        config = weights.config
        guard config.headDim % 2 == 0 else { throw CUDAError.unsupported("RoPE needs an even head dim, model has \(config.headDim)") }
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) { throw SkeletonError.unsupportedTileSize(t) }
        self.queryTile = queryTile; self.keyTile = keyTile
        stream = try GPUStream(device: device)
        blas = try CUBLASLibrary(stream: stream.rawHandle)
        kernels = try ModelKernels(library: library)
        attention = SparseFlashAttention(library: library)
        self.weights = try GPULlamaWeights(device: device, weights: weights)
    }

    /// The estimator `.gpuEstimated` runs use (created on first use), e.g. to set `profileStages`.
    public func gpuEstimator(parameters: SkeletonParameters) -> GPUSkeletonEstimator {
        if let e = skeletonEstimator { e.parameters = parameters; return e }
        let e = GPUSkeletonEstimator(library: library, parameters: parameters)
        skeletonEstimator = e
        return e
    }

    func workspace(tokens n: Int) throws -> Workspace {
        if let w = work, w.tokens == n { return w }
        work = nil
        let c = config, qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim
        func buf(_ bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: device, byteCount: bytes) }
        // RoPE angles θ = pos / linearFactor · base^(−2i/d), as LlamaOps.RoPETable computes them (Double).
        let half = c.headDim / 2
        var cosT = [Float](repeating: 0, count: n * half), sinT = cosT
        for t in 0..<n {
            for i in 0..<half {
                let angle = Double(t) / c.ropeLinearFactor * Foundation.pow(c.ropeBase, -2 * Double(i) / Double(c.headDim))
                cosT[t * half + i] = Float(Foundation.cos(angle)); sinT[t * half + i] = Float(Foundation.sin(angle))
            }
        }
        let w = Workspace(tokens: n, ids: try buf(n * 4), x: try buf(n * c.embedding * 4), h: try buf(n * c.embedding * 2),
                          qkv: try buf(n * qkvWidth * 4), q: try buf(n * c.heads * c.headDim * 2),
                          k: try buf(n * c.kvHeads * c.headDim * 2), v: try buf(n * c.kvHeads * c.headDim * 2),
                          o: try buf(n * c.heads * c.headDim * 2), lse: try buf(n * c.heads * 4),
                          gateUp: try buf(n * 2 * c.feedForward * 4), act: try buf(n * c.feedForward * 2),
                          hLast: try buf(LogitsChunk.rows * c.embedding * 2), logits: try buf(LogitsChunk.rows * c.vocabSize * 4),
                          cos: try buf(n * half * 4), sin: try buf(n * half * 4))
        try w.cos.upload(cosT); try w.sin.upload(sinT)
        work = w
        return w
    }

    enum LogitsChunk { static let rows = 256 }

    /// Runs the prompt and returns the last position's logits with the stage times.
    /// `record`: what to read back per layer (masks, Q/K) — each read synchronises the stream, so
    /// a recorded run's times are not a TTFT; time with `.none` (the default).
    public func prefill(tokens: [Int32], attention mode: GPUAttentionMode, record: GPUPrefillRecording = .none) throws -> GPUPrefillResult {
        let c = config, n = tokens.count
        guard n > 0 else { throw ModelError.invalidRequest("no tokens to run") }
        guard n <= c.contextLength else { throw ModelError.contextTooLong(requested: n, modelContext: c.contextLength) }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError.invalidRequest("token id \(bad) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        if let target = mode.target { _ = try target.validated() }
        // The flash kernel and GPU estimator compute causal attention at 1/√d; no window or softcap yet.
        for l in 0..<c.layers where !c.spec(layer: l).isPlainCausal {
            throw CUDAError.unsupported("the GPU prefill computes plain causal attention at 1/√d only; layer \(l) has \(c.spec(layer: l))")
        }
        let w = try workspace(tokens: n)
        let shape = try AttentionShape(tokens: n, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let geometry = try TileGeometry(tokens: n, queryTile: queryTile, keyTile: keyTile)
        let traits = try FlashKernelTraits.default(headDim: c.headDim, geometry: geometry, dtype: .bf16)
        let qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim, attnWidth = c.heads * c.headDim
        // the layer's mask from its device Q/K, queued on the stream (GPU-estimated modes)
        let estimateOnDevice: (() throws -> DeviceBlockMask)?
        switch mode {
        case .gpuEstimated(let parameters, let target):
            guard keyTile == 64 else { throw CUDAError.unsupported("the GPU skeleton estimator needs 64-key tiles (prefill has \(keyTile))") }
            let e = self.gpuEstimator(parameters: parameters)
            estimateOnDevice = { [stream] in
                try e.estimate(q: w.q, k: w.k, shape: shape, dtype: .bf16, geometry: geometry, target: target, stream: stream).mask
            }
        case .deviceEstimated(let e, let target):
            estimateOnDevice = { [stream] in
                try e.estimateMask(q: w.q, k: w.k, shape: shape, dtype: .bf16, geometry: geometry, spec: .causal, target: target, stream: stream)
            }
        case .dense, .hostEstimated:
            estimateOnDevice = nil
        }
        try w.ids.upload(tokens.map { Int32($0) })

        let start = try GPUEvent(device: device), end = try GPUEvent(device: device)
        var attnEvents: [(GPUEvent, GPUEvent)] = []
        var estEvents: [(GPUEvent, GPUEvent)] = []
        var hostEstimationMs: [Double] = []
        var enqueueMs: [Double] = []   // host time to enqueue each GPU estimate (not a GPU time)
        var uploaded: [DeviceBlockMask] = []   // host-estimated masks, kept alive until the stream has used them
        var densities: [Double] = []
        var layerMasks: [BlockMask] = []
        var layerQK: [GPULayerQK] = []
        var gatedDense: [Bool] = []

        try start.record(on: stream)
        try kernels.embed(ids: w.ids, table: weights.embedding, x: w.x, tokens: n, width: c.embedding, vocab: c.vocabSize, stream: stream)
        for (l, layer) in weights.layers.enumerated() {
            try kernels.rmsNorm(x: w.x, gain: layer.attentionNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: stream)
            try blas.linear(a: w.h.pointer, w: layer.qkv.pointer, c: w.qkv.pointer, rows: n, inDim: c.embedding, outDim: qkvWidth, accumulate: false)
            try kernels.ropeSplit(qkv: w.qkv, cos: w.cos, sin: w.sin, q: w.q, k: w.k, v: w.v, tokens: n, heads: c.heads,
                                  kvHeads: c.kvHeads, headDim: c.headDim, stream: stream)
            var mask: DeviceBlockMask? = nil
            switch mode {
            case .dense:
                densities.append(1)
            case .gpuEstimated, .deviceEstimated:
                if let gate, try !gate.decide(layer: l, shape: shape, dtype: .bf16, geometry: geometry).sparse {
                    gatedDense.append(true)
                    let e = try GPUEvent(device: device)  // a 0 ms estimate keeps the per-layer list aligned
                    try e.record(on: stream)
                    estEvents.append((e, e))
                    if record.masks { densities.append(1); layerMasks.append(try BlockMask.full(geometry: geometry, heads: c.heads)) }
                    break
                }
                if gate != nil { gatedDense.append(false) }
                let e0 = try GPUEvent(device: device), e1 = try GPUEvent(device: device)
                try e0.record(on: stream)
                let h0 = DispatchTime.now().uptimeNanoseconds
                let estimated = try estimateOnDevice!()
                enqueueMs.append(Double(DispatchTime.now().uptimeNanoseconds - h0) / 1e6)
                try e1.record(on: stream)
                estEvents.append((e0, e1))
                mask = estimated
                lastEstimatedMask = estimated
                if record.masks {
                    try stream.synchronize()
                    let m = try estimated.download()
                    layerMasks.append(m); densities.append(m.density)
                }
            case .hostEstimated(let estimator, let target):
                try stream.synchronize()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let q = try w.q.download(UInt16.self, count: n * c.heads * c.headDim).map(HalfBits.bf16ToFloat)
                let k = try w.k.download(UInt16.self, count: n * c.kvHeads * c.headDim).map(HalfBits.bf16ToFloat)
                let inputs = try AttentionInputs(shape: shape, q: q, k: k, v: nil)
                let estimate = try estimator.estimate(inputs, geometry: geometry, spec: c.spec(layer: l), target: target)
                let m = try DeviceBlockMask(device: device, mask: estimate.mask)
                hostEstimationMs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                uploaded.append(m); mask = m
                densities.append(estimate.mask.density)
                if record.masks { layerMasks.append(estimate.mask) }
            }
            if record.qkLayers.contains(l) {
                try stream.synchronize()
                layerQK.append(GPULayerQK(layer: l, q: try w.q.download(UInt16.self, count: n * c.heads * c.headDim),
                                          k: try w.k.download(UInt16.self, count: n * c.kvHeads * c.headDim)))
            }
            let a0 = try GPUEvent(device: device), a1 = try GPUEvent(device: device)
            try a0.record(on: stream)
            try attention.forward(shape: shape, traits: traits, q: w.q, k: w.k, v: w.v, o: w.o, lse: w.lse, mask: mask, stream: stream)
            try a1.record(on: stream)
            attnEvents.append((a0, a1))
            try blas.linear(a: w.o.pointer, w: layer.output.pointer, c: w.x.pointer, rows: n, inDim: attnWidth, outDim: c.embedding, accumulate: true)
            try kernels.rmsNorm(x: w.x, gain: layer.ffnNorm, y: w.h, rows: n, width: c.embedding, epsilon: c.rmsEpsilon, stream: stream)
            try blas.linear(a: w.h.pointer, w: layer.gateUp.pointer, c: w.gateUp.pointer, rows: n, inDim: c.embedding,
                            outDim: 2 * c.feedForward, accumulate: false)
            try kernels.swiglu(gateUp: w.gateUp, out: w.act, tokens: n, feedForward: c.feedForward, stream: stream)
            try blas.linear(a: w.act.pointer, w: layer.down.pointer, c: w.x.pointer, rows: n, inDim: c.feedForward, outDim: c.embedding, accumulate: true)
        }
        try kernels.rmsNorm(x: w.x, gain: weights.outputNorm, y: w.hLast, rows: 1, width: c.embedding, epsilon: c.rmsEpsilon,
                            firstRow: n - 1, stream: stream)
        try blas.linear(a: w.hLast.pointer, w: weights.vocabulary.pointer, c: w.logits.pointer, rows: 1, inDim: c.embedding,
                        outDim: c.vocabSize, accumulate: false)
        try end.record(on: stream)
        try end.synchronize()
        try stream.synchronize()
        let logits = try w.logits.download(Float.self, count: c.vocabSize)
        let layerAttn = try attnEvents.map { try $0.1.milliseconds(since: $0.0) }
        let layerEst = estimateOnDevice != nil ? try estEvents.map { try $0.1.milliseconds(since: $0.0) } : hostEstimationMs
        withExtendedLifetime(uploaded) {}
        let timings = GPUPrefillTimings(totalMs: try end.milliseconds(since: start), attentionMs: layerAttn.reduce(0, +),
                                        estimationMs: layerEst.reduce(0, +), layerAttentionMs: layerAttn, layerEstimationMs: layerEst,
                                        layerDensities: densities, recorded: record.active, estimateEnqueueMs: enqueueMs.reduce(0, +),
                                        layerGatedDense: gatedDense)
        return GPUPrefillResult(tokens: n, lastLogits: logits, timings: timings, layerMasks: layerMasks, layerQK: layerQK)
    }

    /// Logits of positions `rows` of the last prefill ([rows.count, V], row-major), from the
    /// final residual stream still on the device (for perplexity checks; not part of TTFT).
    public func logits(rows: Range<Int>) throws -> [Float] {
        guard let w = work else { throw ModelError.invalidRequest("no prefill has run yet") }
        guard rows.lowerBound >= 0, rows.upperBound <= w.tokens else {
            throw ModelError.invalidRequest("rows \(rows) outside 0..<\(w.tokens)")
        }
        let c = config
        var out: [Float] = []
        out.reserveCapacity(rows.count * c.vocabSize)
        var first = rows.lowerBound
        while first < rows.upperBound {
            let count = min(LogitsChunk.rows, rows.upperBound - first)
            try kernels.rmsNorm(x: w.x, gain: weights.outputNorm, y: w.hLast, rows: count, width: c.embedding, epsilon: c.rmsEpsilon,
                                firstRow: first, stream: stream)
            try blas.linear(a: w.hLast.pointer, w: weights.vocabulary.pointer, c: w.logits.pointer, rows: count, inDim: c.embedding,
                            outDim: c.vocabSize, accumulate: false)
            try stream.synchronize()
            out += try w.logits.download(Float.self, count: count * c.vocabSize)
            first += count
        }
        return out
    }
}

extension GPULlamaPrefill {
    /// Natural-log probability of `targets[r]` at position r (r = 0..<targets.count) of the last
    /// prefill, computed chunk by chunk from `logits(rows:)` (log-sum-exp in Double, rows in
    /// parallel on the host). For perplexity; not part of TTFT.
    public func targetLogProbabilities(_ targets: [Int32]) throws -> [Double] {
        let v = config.vocabSize
        var out = [Double](repeating: 0, count: targets.count)
        var first = 0
        while first < targets.count {
            let count = min(LogitsChunk.rows, targets.count - first)
            let logits = try self.logits(rows: first..<(first + count))
            let base = first
            out.withUnsafeMutableBufferPointer { o in
                logits.withUnsafeBufferPointer { lg in
                    let op = o.baseAddress!, lp = lg.baseAddress!
                    DispatchQueue.concurrentPerform(iterations: count) { r in
                        let row = lp + r * v
                        var mx = -Float.infinity
                        for i in 0..<v { mx = max(mx, row[i]) }
                        var sum = 0.0
                        for i in 0..<v { sum += Foundation.exp(Double(row[i] - mx)) }
                        op[base + r] = Double(row[Int(targets[base + r])] - mx) - Foundation.log(sum)
                    }
                }
            }
            first += count
        }
        return out
    }
}
