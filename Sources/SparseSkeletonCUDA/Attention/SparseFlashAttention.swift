import SparseSkeleton
import SparseSkeletonKernelParams

/// The block-sparse FlashAttention forward on the GPU (Kernels/sparse_flash_attention.cu):
/// O = softmax(scale · QKᵀ, causal, optionally windowed, restricted to the mask's tiles) · V and
/// the row LSE. Dense attention is the same kernel with no CSR (every reachable causal tile).
///
/// Kernels are compiled on first use per `FlashKernelTraits` (NVRTC, disk-cached) and kept.
/// wgmma traits on a GPU that is not sm_90a run their `portable` (mma.sync) equivalent.
public final class SparseFlashAttention: @unchecked Sendable {
    public let library: KernelLibrary
    public var device: GPUDevice { library.device }
    /// CTAs per SM of each loaded kernel (the queue build has its own static shared memory).
    private var residentBlocks: [ObjectIdentifier: Int] = [:]
    /// Kernels by traits: a forward's lookup stays a hash of a few integers (the library's key
    /// spells out the defines as strings, microseconds that a 0.1 ms kernel's timing would see).
    private var kernels: [FlashKernelTraits: GPUKernel] = [:]
    /// Test hook: caps the persistent kernel's grid (CTAs) so that each CTA walks many items.
    public var persistentGridCap: Int? = nil
    /// The persistent kernel's work queue on sparse masks, one per stream (two ints the kernel
    /// leaves zeroed): forwards queued on one stream run in order and share it; two streams must not.
    private var workQueues: [UInt: DeviceBuffer] = [:]
    /// Test and benchmark hook: false runs sparse masks in the static snake order.
    public var dynamicSparseOrder = true
    /// Benchmark hook: false runs dense attention in the traits' own key tiles (the hopper kernel's 64).
    public var denseKeyTiles128 = true
    /// The hopper kernel's item order (L2 sections of heads); `SK_WORK_ORDER` sets it for benchmarks.
    public var workOrder = AttentionWorkOrder.fromEnvironment()

    private func workQueue(for stream: GPUStream) throws -> DeviceBuffer {
        let key = UInt(bitPattern: stream.handle)
        if let q = workQueues[key] { return q }
        let q = try DeviceBuffer(device: device, byteCount: 8)
        try q.fill32(0)
        workQueues[key] = q
        return q
    }

    public init(library: KernelLibrary) { self.library = library }

    public static let sourceFile = "sparse_flash_attention.cu"
    public static let entry = "sparse_flash_fwd"

    /// The kernel for `traits` (compiled and loaded once, through the library). `workQueue`: the
    /// persistent kernel's build with the dynamic work queue, which sparse launches use.
    public func kernel(_ requested: FlashKernelTraits, workQueue: Bool = false) throws -> GPUKernel {
        let traits = runnable(requested)
        let queued = workQueue && Self.hasWorkQueue(traits)
        if let k = queued ? queueKernels[traits] : kernels[traits] { return k }
        var defines = traits.defines
        if queued { defines["SK_WORK_QUEUE"] = "1" }
        let k = try library.kernel(traits.entry, file: traits.sourceFile, defines: defines, threads: traits.threads,
                                   sharedBytes: traits.sharedBytes)
        if queued { queueKernels[traits] = k } else { kernels[traits] = k }
        return k
    }
    private var queueKernels: [FlashKernelTraits: GPUKernel] = [:]

    /// Only the persistent kernels walk several items per CTA, so only they have a queue.
    public static func hasWorkQueue(_ runnable: FlashKernelTraits) -> Bool { runnable.family != .mma && runnable.persistent }

    /// The traits that run a forward: `runnable(traits)`, and for dense attention (no mask to follow) the
    /// hopper kernel with 128-key tiles unless `denseKeyTiles128` is off — measured (bench/NOTES.md v5.1) +14–16 %
    /// over its 64-key tiles at d 128, and at d 64 407 against the v4 kernel's 364 TFLOP/s (which d 64 masks keep).
    public func runnable(_ traits: FlashKernelTraits, dense: Bool) -> FlashKernelTraits {
        let run = runnable(traits)
        guard dense, denseKeyTiles128, run.blockM == 128, run.blockN == 64, device.hasTensorMaps,
              run.family == .hopper || (run.family == .wgmma && run.headDim == 64),
              let wide = FlashKernelTraits.hopper(headDim: run.headDim, blockN: 128, dtype: run.dtype) else { return run }
        return wide
    }

    /// The traits that actually run on this device (wgmma needs sm_90a, the hopper kernel also TMA).
    public func runnable(_ traits: FlashKernelTraits) -> FlashKernelTraits {
        switch traits.family {
        case .mma: return traits
        case .wgmma: return device.arch == "sm_90a" ? traits : traits.portable
        case .hopper: return device.hasTensorMaps ? traits : traits.portable
        }
    }

    /// Refuses a spec the kernel does not compute: invalid values, non-causal attention, softcap.
    public static func requireSupported(_ spec: AttentionSpec) throws {
        _ = try spec.validated()
        guard spec.causal else {
            throw CUDAError.unsupported("the attention kernel computes causal attention only; spec (\(spec)) is not causal")
        }
        guard spec.softcap == nil else {
            throw CUDAError.unsupported("the attention kernel has no logit softcap; spec (\(spec)) asks for one")
        }
    }

    /// The kernel's softmax scale in the log2 domain: scale · log2(e) (1/√d when the spec has none).
    public static func scaleLog2(spec: AttentionSpec, headDim: Int) -> Float {
        let log2e = 1.4426950408889634
        guard let s = spec.scale else { return Float(log2e / Double(headDim).squareRoot()) }
        return Float(s * log2e)
    }

    /// Launches one forward pass on `stream` (asynchronous).
    /// - q, o: [N, queryHeads, d] 16-bit; k, v: [N, kvHeads, d]; lse: [queryHeads, N] Float.
    /// - mask: nil = dense causal; else its geometry must match `traits` tiles and N, its heads
    ///   the query heads.
    /// - spec: causal, with or without a window, any positive scale; no softcap (refused).
    public func forward(shape: AttentionShape, traits: FlashKernelTraits, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer,
                        o: DeviceBuffer, lse: DeviceBuffer, mask: DeviceBlockMask?, spec: AttentionSpec = .causal,
                        stream: GPUStream) throws {
        guard !traits.fp8 else { throw CUDAError.unsupported("\(traits) takes FP8 inputs: use forwardFP8") }
        let n = shape.tokens, e = traits.dtype.byteSize
        for (name, buf, need) in [("Q", q, n * shape.queryHeads * shape.headDim * e), ("K", k, n * shape.kvHeads * shape.headDim * e),
                                  ("V", v, n * shape.kvHeads * shape.headDim * e)] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        try launch(shape: shape, traits: traits, inputs: .sixteenBit(q: q, k: k, v: v), o: o, lse: lse, mask: mask, spec: spec, stream: stream)
    }

    /// The kernel's inputs: 16-bit Q, K, V, or their FP8 quantisation (the hopper kernel's FP8 build).
    enum KernelInputs {
        case sixteenBit(q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer)
        case fp8(FP8AttentionInputs)
        var pointers: (q: UInt64, k: UInt64, v: UInt64) {
            switch self {
            case .sixteenBit(let q, let k, let v): return (q.pointer, k.pointer, v.pointer)
            case .fp8(let x): return (x.q.pointer, x.k.pointer, x.vTransposed.pointer)
            }
        }
    }

    func launch(shape: AttentionShape, traits: FlashKernelTraits, inputs: KernelInputs, o: DeviceBuffer, lse: DeviceBuffer,
                mask: DeviceBlockMask?, spec: AttentionSpec, stream: GPUStream) throws {
        try Self.requireSupported(spec)
        guard traits.headDim == shape.headDim else {
            throw SkeletonError.shapeMismatch("kernel built for d = \(traits.headDim), inputs have d = \(shape.headDim)")
        }
        let n = shape.tokens, e = traits.dtype.byteSize
        for (name, buf, need) in [("O", o, n * shape.queryHeads * shape.headDim * e), ("LSE", lse, n * shape.queryHeads * 4)] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        if let mask {
            guard mask.geometry.tokens == n, mask.heads == shape.queryHeads else {
                throw SkeletonError.shapeMismatch("mask is \(mask.heads) heads × \(mask.geometry.tokens) tokens, inputs \(shape)")
            }
            guard mask.geometry.queryTile == traits.blockM, mask.geometry.keyTile == traits.blockN else {
                throw SkeletonError.shapeMismatch("mask tiles \(mask.geometry.queryTile)x\(mask.geometry.keyTile) differ from the kernel's \(traits.blockM)x\(traits.blockN)")
            }
        }
        guard n <= Int(Int32.max) / max(shape.queryHeads, 1) else { throw CUDAError.unsupported("N = \(n) too large for 32-bit LSE indexing") }
        let run = runnable(traits, dense: mask == nil)
        if traits.fp8 && run != traits { throw CUDAError.unsupported("FP8 attention needs the hopper kernel (sm_90a with TMA); this GPU is \(device.arch)") }
        // A stream's queue is allocated on its first sparse launch; under a CUDA-graph capture nothing
        // may be allocated, so a stream without one yet runs the static order there.
        let headSection = run.family == .hopper
            ? workOrder.headSection(tokens: n, queryHeads: shape.queryHeads, kvHeads: shape.kvHeads, headDim: shape.headDim,
                                    elementBytes: run.fp8 ? 1 : e, l2Bytes: device.l2CacheBytes) : 0
        var queued = (mask != nil ? dynamicSparseOrder : workOrder.queuesDense(headSection: headSection)) && Self.hasWorkQueue(run)
        if queued && workQueues[UInt(bitPattern: stream.handle)] == nil { queued = try !stream.isCapturing() }
        let kern = try kernel(run, workQueue: queued)
        let queryBlocks = (n + traits.blockM - 1) / traits.blockM
        var grid = (queryBlocks, shape.queryHeads, 1)
        if run.family != .mma {  // one work item per (query block, head), longest rows first
            let items = queryBlocks * shape.queryHeads
            grid = (items, 1, 1)
            if run.persistent {
                let id = ObjectIdentifier(kern)
                if residentBlocks[id] == nil { residentBlocks[id] = max(1, try kern.blocksPerMultiprocessor()) }
                let resident = device.multiprocessors * (residentBlocks[id] ?? 1)
                grid.0 = max(1, min(items, persistentGridCap ?? resident, resident))
            }
        }
        guard grid.0 > 0 else { return }
        let queue = queued ? try workQueue(for: stream).pointer : 0
        let (qp, kp, vp) = inputs.pointers
        let params = SKAttentionParams(
            q: qp, k: kp, v: vp, o: o.pointer, lse: lse.pointer,
            rowOffsets: mask?.rowOffsets.pointer ?? 0, keyBlocks: mask?.keyBlocks.pointer ?? 0,
            tokens: Int32(n), queryHeads: Int32(shape.queryHeads), kvHeads: Int32(shape.kvHeads),
            scaleLog2: Self.scaleLog2(spec: spec, headDim: shape.headDim), window: FlashWindowTiles.kernelWindow(spec, tokens: n),
            headSection: Int32(headSection), workQueue: queue)
        if run.family == .hopper {
            let eb = run.fp8 ? 1 : 2
            let tmV: SKTensorMap
            var scales: UInt64 = 0
            if case .fp8(let x) = inputs {
                tmV = try device.transposedTensorMap(address: vp, columns: x.paddedTokens, rows: shape.headDim, heads: shape.kvHeads)
                scales = x.scales.pointer
            } else {
                tmV = try device.rowTensorMap(address: vp, rows: n, heads: shape.kvHeads, headDim: shape.headDim, boxRows: run.blockN)
            }
            let hp = SKHopperAttentionParams(
                tmQ: try device.rowTensorMap(address: qp, rows: n, heads: shape.queryHeads, headDim: shape.headDim, boxRows: run.blockM, elementBytes: eb),
                tmK: try device.rowTensorMap(address: kp, rows: n, heads: shape.kvHeads, headDim: shape.headDim, boxRows: run.blockN, elementBytes: eb),
                tmV: tmV,
                tmO: try device.rowTensorMap(address: o.pointer, rows: n, heads: shape.queryHeads, headDim: shape.headDim, boxRows: 64),
                tmKPair: run.pairedKeyTiles ? try device.rowTensorMap(address: kp, rows: n, heads: shape.kvHeads, headDim: shape.headDim, boxRows: 128)
                                            : SKTensorMap(),
                tmVPair: run.pairedKeyTiles ? try device.rowTensorMap(address: vp, rows: n, heads: shape.kvHeads, headDim: shape.headDim, boxRows: 128)
                                            : SKTensorMap(),
                attention: params, fp8Scales: scales,
                padding: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            try kern.launch(grid: grid, stream: stream, params: hp)
        } else {
            try kern.launch(grid: grid, stream: stream, params: params)
        }
    }
}
