import Dispatch
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel

/// The sizes of a model that the GPU prefill's shared buffers and attention need.
struct GPUModelDims {
    let architecture: String
    let layers: Int, embedding: Int, feedForward: Int
    let heads: Int, kvHeads: Int, headDim: Int
    let vocabSize: Int, contextLength: Int
    let rmsEpsilon: Float
}

/// What a family's layers launch with: the element-wise kernels, cuBLAS and the prefill's stream.
struct GPUPrefillOps {
    let kernels: ModelKernels
    let blas: CUBLASLibrary
    let stream: GPUStream
}

/// The buffers every family's layers share, for one prompt length N: residual stream x [N, E]
/// fp32, normed activations h [N, E] bf16, the fused qkv product [N, (H + 2·Hkv)·d] fp32, the
/// attention's bf16 Q/K/V/O and LSE, the feed-forward's [N, 2F] fp32 product and [N, F] bf16
/// activation, and one chunk of the output head (hLast, logits). The buffers hold `capacity`
/// tokens (≥ `tokens`, see `GPUModelPrefill.reserve`); kernels run on the first `tokens` rows.
struct GPUPrefillWorkspace {
    var tokens: Int
    let capacity: Int
    let ids, x, h, qkv, q, k, v, o, lse, gateUp, act, hLast, logits: DeviceBuffer
}

/// One model family's layers on the GPU, everything but attention and its masks (which
/// `GPUModelPrefill` runs the same way for every family). A family owns its device weights and
/// any buffers of its own (RoPE tables, scratch).
protocol GPUPrefillFamily: AnyObject {
    var dims: GPUModelDims { get }
    /// Bytes of weights on the device.
    var weightBytes: Int { get }
    /// Layer `layer`'s attention (window, scale): windowed layers run the kernel's window, no estimate.
    func spec(layer: Int) -> AttentionSpec
    /// The final norm's gain (fp32 [E]) and the output head (bf16 [V, E]).
    var outputNorm: DeviceBuffer { get }
    var vocabulary: DeviceBuffer { get }
    /// Builds the family's own buffers for prompts of up to N tokens (called when the workspace is
    /// allocated; its RoPE tables are indexed by position, so a shorter prompt reads their first rows).
    func prepare(tokens: Int) throws
    /// w.x ← the embedding of w.ids.
    func embed(_ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws
    /// Layer `layer` up to attention: w.x → w.q, w.k, w.v (bf16, post-RoPE).
    func attentionInputs(layer: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws
    /// Layer `layer` after attention: w.o → w.x.
    func finishLayer(_ layer: Int, _ w: GPUPrefillWorkspace, _ ops: GPUPrefillOps) throws
}

/// cos and sin of the RoPE angles for positions 0..<N on the device (fp32 [N, d/2]), the CPU
/// model's table (angles in Double) uploaded.
struct GPURoPETable {
    let cos: DeviceBuffer, sin: DeviceBuffer
    init(device: GPUDevice, tokens n: Int, headDim: Int, base: Double, linearFactor: Double) throws {
        let table = LlamaOps.RoPETable(positions: 0..<n, headDim: headDim, base: base, linearFactor: linearFactor)
        cos = try DeviceBuffer(device: device, byteCount: table.cos.count * 4)
        sin = try DeviceBuffer(device: device, byteCount: table.sin.count * 4)
        try cos.upload(table.cos); try sin.upload(table.sin)
    }
}

/// A decoder-only model's prefill on one GPU, batch 1: the family's layers (`GPUPrefillFamily`:
/// norms, cuBLAS products, RoPE, feed-forward, in bf16 operands with fp32 accumulation and residual
/// stream) around one attention step shared by every family:
///
///     x = embed(tokens)
///     per layer:  q, k, v = family.attentionInputs(x)
///                 mask = none (dense, or a windowed layer: the kernel's window) | estimated on the GPU | on the CPU
///                 o = Attention(q, k, v; mask, the layer's spec)   (block-sparse FlashAttention)
///                 x = family.finishLayer(o, x)
///     logits = bf16(RMSNorm(x[N−1])·g)·W_vocabᵀ
///
/// The final activations stay on the device for `logits(rows:)`. Families: `GPULlamaLayers`
/// (GPULlamaPrefill.swift), `GPUGemma3Layers` (GPUGemma3Prefill.swift); `init(library:model:)` picks one.
public final class GPUModelPrefill: @unchecked Sendable {
    public let device: GPUDevice
    public let queryTile: Int, keyTile: Int
    let stream: GPUStream
    public let library: KernelLibrary
    let blas: CUBLASLibrary
    let kernels: ModelKernels
    let attention: SparseFlashAttention
    let family: GPUPrefillFamily
    private var work: GPUPrefillWorkspace?
    /// One GPU skeleton estimator for every layer and run: its workspace (and so the mask it
    /// returns) is reused per layer, which the stream order makes safe (layer L's attention is
    /// queued before layer L + 1's estimate overwrites the mask).
    private var skeletonEstimator: GPUSkeletonEstimator?
    /// The last estimated layer's mask of the last GPU-estimated run, still on the device (the
    /// estimator's workspace holds it until its next estimate): read it back after a timed run,
    /// e.g. to check that the timed run built the same mask as a recorded one.
    public private(set) var lastEstimatedMask: (layer: Int, mask: DeviceBlockMask)?
    /// Called after the attention of each layer in `layers`, with that layer's device Q/K/V/O/LSE
    /// (the stream synchronised first; the buffers are the prefill's and are reused by the next
    /// layer, so copy what must outlive the call). For evaluations on the model's real attention
    /// (`gpu-mask-eval`); a tapped run's times are not a TTFT.
    public var attentionTap: (layers: Set<Int>, handle: (GPULayerAttention) throws -> Void)?
    /// Profitability gate of the GPU-estimated modes (nil: every estimated layer sparse): a layer
    /// the gate predicts no gain for runs dense, without an estimate.
    public var gate: GPUPrefillGate?

    public var cublasPath: String { blas.path }
    public var architecture: String { family.dims.architecture }
    /// Bytes of weights on the device.
    public var weightBytes: Int { family.weightBytes }
    /// The layers whose masks are estimated in the sparse modes: those without a window (a
    /// windowed layer runs the kernel's window, dense within it).
    public var estimatedLayers: [Int] { (0..<family.dims.layers).filter { family.spec(layer: $0).window == nil } }

    init(library: KernelLibrary, family: (GPUDevice) throws -> GPUPrefillFamily, queryTile: Int, keyTile: Int) throws {
        device = library.device
        self.library = library
        for t in [queryTile, keyTile] where !SkeletonError.supportedTileSizes.contains(t) { throw SkeletonError.unsupportedTileSize(t) }
        self.queryTile = queryTile; self.keyTile = keyTile
        stream = try GPUStream(device: device)
        blas = try CUBLASLibrary(stream: stream.rawHandle)
        kernels = try ModelKernels(library: library)
        attention = SparseFlashAttention(library: library)
        self.family = try family(device)
        guard self.family.dims.headDim % 2 == 0 else { throw CUDAError.unsupported("RoPE needs an even head dim, model has \(self.family.dims.headDim)") }
        for l in 0..<self.family.dims.layers { try SparseFlashAttention.requireSupported(self.family.spec(layer: l)) }
    }

    /// The GPU prefill of `model`'s family (Llama, Gemma-3); another architecture is refused by name.
    public convenience init(library: KernelLibrary, model: any CausalLM, queryTile: Int = 128, keyTile: Int = 64) throws {
        switch model {
        case let llama as LlamaModel: try self.init(library: library, weights: llama.weights, queryTile: queryTile, keyTile: keyTile)
        case let gemma as Gemma3Model: try self.init(library: library, gemma3: gemma, queryTile: queryTile, keyTile: keyTile)
        default:
            throw ModelError.invalidRequest("the GPU prefill runs llama and gemma3; this model is \(model.config.architecture)")
        }
    }

    /// The estimator `.gpuEstimated` runs use (created on first use), e.g. to set `profileStages`.
    public func gpuEstimator(parameters: SkeletonParameters) -> GPUSkeletonEstimator {
        if let e = skeletonEstimator { e.parameters = parameters; return e }
        let e = GPUSkeletonEstimator(library: library, parameters: parameters)
        skeletonEstimator = e
        return e
    }

    /// Prompts up to this many tokens reuse one workspace (`reserve`).
    private var reservedTokens = 0

    /// Sizes the prefill's buffers for prompts of up to `tokens` tokens from the next run on, so that
    /// runs of any length up to it (a prompt and the tokens a greedy decode appends) allocate nothing
    /// and build no RoPE table. Without it the buffers fit the last prompt exactly.
    public func reserve(tokens: Int) throws {
        guard tokens <= family.dims.contextLength else {
            throw ModelError.contextTooLong(requested: tokens, modelContext: family.dims.contextLength)
        }
        reservedTokens = tokens
        if let w = work, w.capacity < tokens { work = nil }
    }

    func workspace(tokens n: Int) throws -> GPUPrefillWorkspace {
        if var w = work, w.tokens == n || (n <= w.capacity && n <= reservedTokens) {
            w.tokens = n
            work = w
            return w
        }
        work = nil
        let cap = max(n, reservedTokens)
        let c = family.dims, qkvWidth = (c.heads + 2 * c.kvHeads) * c.headDim
        func buf(_ bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: device, byteCount: bytes) }
        let w = GPUPrefillWorkspace(tokens: n, capacity: cap, ids: try buf(cap * 4), x: try buf(cap * c.embedding * 4), h: try buf(cap * c.embedding * 2),
                                    qkv: try buf(cap * qkvWidth * 4), q: try buf(cap * c.heads * c.headDim * 2),
                                    k: try buf(cap * c.kvHeads * c.headDim * 2), v: try buf(cap * c.kvHeads * c.headDim * 2),
                                    o: try buf(cap * c.heads * c.headDim * 2), lse: try buf(cap * c.heads * 4),
                                    gateUp: try buf(cap * 2 * c.feedForward * 4), act: try buf(cap * c.feedForward * 2),
                                    hLast: try buf(LogitsChunk.rows * c.embedding * 2), logits: try buf(LogitsChunk.rows * c.vocabSize * 4))
        try family.prepare(tokens: cap)
        work = w
        return w
    }

    enum LogitsChunk { static let rows = 256 }

    var ops: GPUPrefillOps { GPUPrefillOps(kernels: kernels, blas: blas, stream: stream) }

    /// Runs the prompt and returns the last position's logits with the stage times.
    /// `record`: what to read back per layer (masks, Q/K) — each read synchronises the stream, so
    /// a recorded run's times are not a TTFT; time with `.none` (the default).
    public func prefill(tokens: [Int32], attention mode: GPUAttentionMode, record: GPUPrefillRecording = .none) throws -> GPUPrefillResult {
        let c = family.dims, n = tokens.count
        guard n > 0 else { throw ModelError.invalidRequest("no tokens to run") }
        guard n <= c.contextLength else { throw ModelError.contextTooLong(requested: n, modelContext: c.contextLength) }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError.invalidRequest("token id \(bad) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        if let target = mode.target { _ = try target.validated() }
        let w = try workspace(tokens: n)
        let ops = self.ops
        let shape = try AttentionShape(tokens: n, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let geometry = try TileGeometry(tokens: n, queryTile: queryTile, keyTile: keyTile)
        let traits = try FlashKernelTraits.default(headDim: c.headDim, geometry: geometry, dtype: .bf16)
        // the layer's mask from its device Q/K, queued on the stream (GPU-estimated modes)
        let estimateOnDevice: ((AttentionSpec) throws -> DeviceBlockMask)?
        switch mode {
        case .gpuEstimated(let parameters, let target):
            guard keyTile == 64 else { throw CUDAError.unsupported("the GPU skeleton estimator needs 64-key tiles (prefill has \(keyTile))") }
            let e = self.gpuEstimator(parameters: parameters)
            estimateOnDevice = { [stream] spec in
                try e.estimate(q: w.q, k: w.k, shape: shape, dtype: .bf16, geometry: geometry, spec: spec, target: target, stream: stream).mask
            }
        case .deviceEstimated(let e, let target):
            estimateOnDevice = { [stream] spec in
                try e.estimateMask(q: w.q, k: w.k, shape: shape, dtype: .bf16, geometry: geometry, spec: spec, target: target, stream: stream)
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
        // A layer that runs with no mask in a sparse mode (windowed, or gated dense): a 0 ms estimate
        // keeps the per-layer lists aligned; a recorded run gets its full mask, density 1.
        func noEstimate(gated: Bool = false) throws {
            if estimateOnDevice != nil {
                let e = try GPUEvent(device: device)
                try e.record(on: stream)
                estEvents.append((e, e))
            } else {
                hostEstimationMs.append(0)
            }
            if gate != nil { gatedDense.append(gated) }
            if record.masks || estimateOnDevice == nil { densities.append(1) }  // host-estimated runs always list densities
            if record.masks { layerMasks.append(try BlockMask.full(geometry: geometry, heads: c.heads)) }
        }

        try start.record(on: stream)
        try family.embed(w, ops)
        for l in 0..<c.layers {
            let spec = family.spec(layer: l)
            try family.attentionInputs(layer: l, w, ops)
            var mask: DeviceBlockMask? = nil
            switch mode {
            case .dense:
                densities.append(1)
            case .gpuEstimated, .deviceEstimated:
                if spec.window != nil { try noEstimate(); break }
                if let gate, try !gate.decide(layer: l, shape: shape, dtype: .bf16, geometry: geometry).sparse {
                    try noEstimate(gated: true); break
                }
                if gate != nil { gatedDense.append(false) }
                let e0 = try GPUEvent(device: device), e1 = try GPUEvent(device: device)
                try e0.record(on: stream)
                let h0 = DispatchTime.now().uptimeNanoseconds
                let estimated = try estimateOnDevice!(spec)
                enqueueMs.append(Double(DispatchTime.now().uptimeNanoseconds - h0) / 1e6)
                try e1.record(on: stream)
                estEvents.append((e0, e1))
                mask = estimated
                lastEstimatedMask = (l, estimated)
                if record.masks {
                    try stream.synchronize()
                    let m = try estimated.download()
                    layerMasks.append(m); densities.append(m.density)
                }
            case .hostEstimated(let estimator, let target):
                if spec.window != nil { try noEstimate(); break }
                try stream.synchronize()
                let t0 = DispatchTime.now().uptimeNanoseconds
                let q = try w.q.download(UInt16.self, count: n * c.heads * c.headDim).map(HalfBits.bf16ToFloat)
                let k = try w.k.download(UInt16.self, count: n * c.kvHeads * c.headDim).map(HalfBits.bf16ToFloat)
                let inputs = try AttentionInputs(shape: shape, q: q, k: k, v: nil)
                let estimate = try estimator.estimate(inputs, geometry: geometry, spec: spec, target: target)
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
            try attention.forward(shape: shape, traits: traits, q: w.q, k: w.k, v: w.v, o: w.o, lse: w.lse, mask: mask, spec: spec, stream: stream)
            try a1.record(on: stream)
            attnEvents.append((a0, a1))
            if let tap = attentionTap, tap.layers.contains(l) {
                try stream.synchronize()
                try tap.handle(GPULayerAttention(layer: l, shape: shape, spec: spec, dtype: .bf16, q: w.q, k: w.k, v: w.v, o: w.o, lse: w.lse))
            }
            try family.finishLayer(l, w, ops)
        }
        try kernels.rmsNorm(x: w.x, gain: family.outputNorm, y: w.hLast, rows: 1, width: c.embedding, epsilon: c.rmsEpsilon,
                            firstRow: n - 1, stream: stream)
        try blas.linear(a: w.hLast.pointer, w: family.vocabulary.pointer, c: w.logits.pointer, rows: 1, inDim: c.embedding,
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
                                        layerDensities: densities, recorded: record.active || attentionTap != nil, estimateEnqueueMs: enqueueMs.reduce(0, +),
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
        let c = family.dims
        var out: [Float] = []
        out.reserveCapacity(rows.count * c.vocabSize)
        var first = rows.lowerBound
        while first < rows.upperBound {
            let count = min(LogitsChunk.rows, rows.upperBound - first)
            try kernels.rmsNorm(x: w.x, gain: family.outputNorm, y: w.hLast, rows: count, width: c.embedding, epsilon: c.rmsEpsilon,
                                firstRow: first, stream: stream)
            try blas.linear(a: w.hLast.pointer, w: family.vocabulary.pointer, c: w.logits.pointer, rows: count, inDim: c.embedding,
                            outDim: c.vocabSize, accumulate: false)
            try stream.synchronize()
            out += try w.logits.download(Float.self, count: count * c.vocabSize)
            first += count
        }
        return out
    }

    /// Natural-log probability of `targets[r]` at position r (r = 0..<targets.count) of the last
    /// prefill, on the device chunk by chunk: the chunk's logits (as `logits(rows:)`), then
    /// `model_target_logprob` (log-sum-exp in fp64); only the log-probabilities come back. For
    /// perplexity; not part of TTFT.
    public func targetLogProbabilities(_ targets: [Int32]) throws -> [Double] {
        guard let w = work else { throw ModelError.invalidRequest("no prefill has run yet") }
        let c = family.dims
        guard targets.count <= w.tokens else { throw ModelError.invalidRequest("\(targets.count) targets for a prefill of \(w.tokens) tokens") }
        if let bad = targets.first(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw ModelError.invalidRequest("target id \(bad) is outside the vocabulary 0..<\(c.vocabSize)")
        }
        let ids = try DeviceBuffer(device: device, byteCount: max(1, targets.count) * 4)
        let lp = try DeviceBuffer(device: device, byteCount: max(1, targets.count) * 8)
        try ids.upload(targets)
        var first = 0
        while first < targets.count {
            let count = min(LogitsChunk.rows, targets.count - first)
            try kernels.rmsNorm(x: w.x, gain: family.outputNorm, y: w.hLast, rows: count, width: c.embedding, epsilon: c.rmsEpsilon,
                                firstRow: first, stream: stream)
            try blas.linear(a: w.hLast.pointer, w: family.vocabulary.pointer, c: w.logits.pointer, rows: count, inDim: c.embedding,
                            outDim: c.vocabSize, accumulate: false)
            try kernels.targetLogProb(logits: w.logits, targets: ids, out: lp, first: first, rows: count, vocab: c.vocabSize, stream: stream)
            first += count
        }
        try stream.synchronize()
        return targets.isEmpty ? [] : try lp.download(Double.self, count: targets.count)
    }
}
