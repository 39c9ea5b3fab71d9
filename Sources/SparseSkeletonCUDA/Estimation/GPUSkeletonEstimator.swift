import Foundation
import SparseSkeleton
import SparseSkeletonKernelParams

/// The skeleton estimator and the mask builder on the GPU: device Q/K in, a device CSR block
/// mask out, every step on one stream with no host round trip and nothing of size N² (tile-level
/// arrays are N²/(64 · query tile)). The steps mirror the CPU `SkeletonEstimator` one to one
/// (docs/METHOD.md), which is its reference:
///
/// 1. probes (Kernels/skeleton_probes.cu): pass 1 on every probe row → per (row, key tile)
///    log-sum-exp and the row's; pass 2 on the fit rows → observed column and diagonal masses;
/// 2. factor fit (Kernels/skeleton_fit.cu): `fitSweeps` IPF sweeps for v and s (strided rows as
///    per-residue convolutions, tail rows directly); modelled tile masses from v and the prefix
///    sums of s; the local blend with the block's fit probes; normalised per query block;
/// 3. mask (Kernels/skeleton_mask.cu): error bound — rows sorted once, per-head calibration of
///    ε' on the held-out check rows, kept prefixes, CSR; budget — one radix-selected τ over all
///    heads, ties in index order, CSR.
///
/// Its knobs are the CPU estimator's `SkeletonParameters` (so `SkeletonEstimator(parameters:)` with
/// the same value is its reference); the default, `.growingStride`, lets the probe stride grow with
/// N so the probe work stays about 1024 rows per head; at N ≤ 32K it equals the CPU default (32).
/// Each kernel takes its struct
/// of sk_skeleton_params.h; the arrays live in a `GPUSkeletonWorkspace` per shape. As a
/// `DeviceMaskEstimator` ("skeleton") it takes causal specs without a window (the spec's scale
/// is the probes' softmax scale) and meets a time budget with `costModel` + `estimationTime`.
public final class GPUSkeletonEstimator: @unchecked Sendable {
    public let library: KernelLibrary
    public var device: GPUDevice { library.device }
    public var parameters: SkeletonParameters
    private var workspace: GPUSkeletonWorkspace?
    /// When true, `estimate` records an event after each stage; `stageMilliseconds()` reads them
    /// (after the stream is synchronised). For benchmarks; costs a few microseconds per stage.
    public var profileStages = false
    private var stageEvents: [(String, GPUEvent)] = []
    /// The attention kernel's cost on this device (`TileCostModel.fit`): with `estimationTime`
    /// it turns a time budget into a density (`tileTarget`). nil: time budgets are refused.
    public var costModel: TileCostModel?
    /// This estimator's own measured time for one shape (`measureEstimationTime`).
    public var estimationTime: EstimationTime?
    /// The IPF fit as one persistent launch (`skeleton_ipf_fit`, grid barriers between its steps)
    /// where every CTA then has at most one work item per step (the step's items ≤ the resident
    /// CTAs: SmolLM2 at 8K), else as two launches per step (`skeleton_ipf_step`, then
    /// `skeleton_ipf_finish_h` or `skeleton_ipf_update`; the first sweep's steps profiled one by
    /// one). Both give the same floats. Measured on the H200 (bench/NOTES.md v4): the persistent
    /// launch 10 % faster at 8K (9 heads), 18 % slower at 32K and 28 % at 128K (32 heads), where
    /// its CTAs loop over several items. false, or SKELETON_IPF_LAUNCHES=steps: the step launches always.
    public var persistentFit = ProcessInfo.processInfo.environment["SKELETON_IPF_LAUNCHES"] != "steps"
    /// At most this many CTAs for the persistent fit, which then runs whatever the item count (nil:
    /// as many as are resident, and only where they cover the items) — for checks: a small grid
    /// makes every CTA loop over many work items.
    public var persistentFitGridLimit: Int?

    public init(library: KernelLibrary, parameters: SkeletonParameters = .growingStride) {
        self.library = library; self.parameters = parameters
    }

    public static let probeSource = "skeleton_probes.cu"
    public static let fitSource = "skeleton_fit.cu"
    public static let maskSource = "skeleton_mask.cu"

    /// Every module this estimator loads for one head dim and dtype (the CI compile test builds them).
    public static func modules(headDim: Int, dtype: DType) -> [ModuleKey] {
        [(1, 1), (1, 2), (2, 1)].map { ModuleKey(file: probeSource, defines: probeDefines(pass: $0.0, heads: $0.1, headDim: headDim, dtype: dtype)) }
            + [ModuleKey(file: fitSource, defines: [:]), ModuleKey(file: maskSource, defines: [:])]
    }

    /// The probe kernel's variant: pass (pass 2 also splits each key tile over two warps per row
    /// block, so it runs twice the threads), query heads per CTA, head dim, dtype.
    static func probeDefines(pass: Int, heads: Int, headDim: Int, dtype: DType) -> [String: String] {
        ["SK_HEAD_DIM": "\(headDim)", "SK_PROBE_PASS": "\(pass)", "SK_PROBE_HEADS": "\(heads)", "SK_BF16": dtype == .bf16 ? "1" : "0"]
    }
    static func probeThreads(pass: Int) -> Int { pass == 2 ? 256 : 128 }

    /// Pass 1's shared memory (skeleton_probes.cu): the Q tile of each head, two K tiles, the rows.
    static func probePass1SharedBytes(heads h: Int, headDim d: Int) -> Int { (h * 64 + 2 * 64) * d * 2 + 64 * 4 }

    /// Pass 2's: two K tiles, the rows, then one area that first stages the Q tiles (until they
    /// are in registers) and then holds the column sums, the diagonal ring and, for the tail
    /// group, the tile its per-diagonal sums go through.
    static func probePass2SharedBytes(heads h: Int, headDim d: Int, window: Int, diagonalTile: Bool) -> Int {
        let buffers = (h * 4 * 64 + h * window + (diagonalTile ? h * 64 * 65 : 0)) * 4
        return 2 * 64 * d * 2 + 64 * 4 + max(h * 64 * d * 2, buffers)
    }

    /// Key tiles per probe CTA: a power of two from 16 to 256, the largest that still gives the
    /// probe grid (groups × chunks × head sets) about 8 CTAs per multiprocessor — so at small N a
    /// group's row is walked by several CTAs at once instead of one CTA walking it all.
    static func probeChunkTiles(keyTiles: Int, groups: Int, headSets: Int, multiprocessors: Int) -> Int {
        let want = 8 * max(1, multiprocessors)
        var tiles = 256
        while tiles > 16 && groups * headSets * ((keyTiles - 1) / tiles + 1) < want { tiles /= 2 }
        return tiles
    }

    /// The IPF step kernel's shared memory (skeleton_fit.cu): the padded a, b and h arrays of the
    /// strided part, at least the tail part's 576 floats.
    static func ipfSharedBytes(stridedRows W: Int, residueLength U: Int) -> Int {
        func padded(_ m: Int) -> Int { m + 4 * ((m - 1) >> 5) }  // padded_length of logical m (a multiple of 8)
        let L = (U + 16 + 7) / 8 * 8, WH = (W + 8 + 7) / 8 * 8
        return max(2 * padded(L) + padded(WH), 256 + 320) * 4
    }

    private func kernel(_ entry: String, file: String, defines: [String: String] = [:], threads: Int, sharedBytes: Int) throws -> GPUKernel {
        try library.kernel(entry, file: file, defines: defines, threads: threads, sharedBytes: sharedBytes)
    }
    private func probeKernel(pass: Int, heads: Int, headDim: Int, dtype: DType, sharedBytes: Int,
                             entry: String = "skeleton_probe_pass", threads: Int? = nil) throws -> GPUKernel {
        try kernel(entry, file: Self.probeSource, defines: Self.probeDefines(pass: pass, heads: heads, headDim: headDim, dtype: dtype),
                   threads: threads ?? Self.probeThreads(pass: pass), sharedBytes: sharedBytes)
    }
    private func moduleKernel(_ entry: String, file: String, threads: Int, sharedBytes: Int) throws -> GPUKernel {
        try kernel(entry, file: file, threads: threads, sharedBytes: sharedBytes)
    }

    // MARK: - workspace

    private func workspace(shape: AttentionShape, geometry g: TileGeometry) throws -> GPUSkeletonWorkspace {
        let stride = parameters.stride(tokens: g.tokens)
        let key = "\(g) \(shape) \(stride) \(parameters.lastRows)"
        if let w = workspace, w.key == key { return w }
        workspace = nil  // free the old one first
        let plan = try SkeletonProbePlan(tokens: g.tokens, lastRows: parameters.lastRows, stride: stride)
        let w = try GPUSkeletonWorkspace(device: device, key: key, plan: plan, shape: shape, geometry: g)
        workspace = w
        return w
    }

    /// Fills every workspace array with 0xFF bytes (NaN floats, −1 ints), so a check can tell an
    /// output the next `estimate` did not write. The plan's uploaded index arrays are kept.
    public func poisonWorkspace() throws {
        guard let w = workspace else { return }
        for buf in w.outputs { try buf.fill8(0xFF) }
    }

    /// Milliseconds of each stage of the last profiled `estimate` (synchronise the stream first).
    public func stageMilliseconds() throws -> [(stage: String, ms: Double)] {
        var out: [(String, Double)] = []
        for i in 1..<max(1, stageEvents.count) {
            out.append((stageEvents[i].0, try stageEvents[i].1.milliseconds(since: stageEvents[i - 1].1)))
        }
        return out
    }

    // MARK: - estimate

    /// What one estimate leaves on the device: the mask and the arrays behind it (for checks).
    public struct Result {
        public let mask: DeviceBlockMask
        public let plan: SkeletonProbePlan
        let workspace: GPUSkeletonWorkspace
        /// Estimated tile masses [head][TileMasses order], normalised per query block.
        public func tileEstimates() throws -> [Float] { try workspace.est.download(Float.self, count: workspace.heads * workspace.tilesPerHead) }
        /// Per head: the calibrated internal ε' (error-bound mode) and the check rows' mean recall.
        public func internalEpsilons() throws -> [Float] { try workspace.epsilon.download(Float.self, count: workspace.heads) }
        public func probeRecalls() throws -> [Float] { try workspace.recall.download(Float.self, count: workspace.heads) }
    }

    /// Runs the whole estimator on `stream` (asynchronous; synchronise before reading results).
    /// q: [N, queryHeads, d], k: [N, kvHeads, d], 16-bit `dtype`. The mask's key tile must be 64.
    /// `spec` must be causal without a window; its scale is the probes' softmax scale. A time
    /// budget needs `costModel` and `estimationTime` (see `tileTarget`).
    public func estimate(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry g: TileGeometry,
                         spec: AttentionSpec = .causal, target: MaskTarget, stream: GPUStream) throws -> Result {
        let scaleLog2 = try Self.probeScaleLog2(spec: spec, headDim: shape.headDim)
        guard g.tokens == shape.tokens else { throw SkeletonError.shapeMismatch("tile geometry has N = \(g.tokens), inputs \(shape)") }
        guard g.keyTile == 64 else { throw CUDAError.unsupported("the GPU skeleton estimator builds masks with 64-key tiles (asked \(g.keyTile))") }
        guard dtype != .f32 else { throw CUDAError.unsupported("the GPU skeleton estimator takes f16 or bf16 Q/K, not f32") }
        guard SkeletonError.supportedHeadDims.contains(shape.headDim) else { throw SkeletonError.unsupportedHeadDim(shape.headDim) }
        try parameters.validate(tokens: shape.tokens)
        guard parameters.ratioPower == 0, !parameters.shareGroupMask else {
            throw CUDAError.unsupported("the GPU skeleton estimator has no probe ratio correction or shared group masks (ratioPower \(parameters.ratioPower), shareGroupMask \(parameters.shareGroupMask))")
        }
        let target = try tileTarget(target, shape: shape, dtype: dtype, geometry: g)
        let n = shape.tokens, heads = shape.queryHeads, d = shape.headDim, e = dtype.byteSize
        for (name, buf, need) in [("Q", q, n * heads * d * e), ("K", k, n * shape.kvHeads * d * e)] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        let w = try workspace(shape: shape, geometry: g)
        stageEvents = []
        let run = Run(estimator: self, w: w, shape: shape, dtype: dtype, g: g, stream: stream)
        try stage("start", stream)
        try run.initialise()
        try run.probes(q: q, k: k, scaleLog2: scaleLog2)
        try run.factorFit()
        try run.tileMasses()
        switch target {
        case .errorBound(let eps): try run.errorBoundMask(epsilon: eps)
        case .density(let dens): try run.budgetMask(density: dens)
        case .timeBudget: fatalError("unreachable: tileTarget maps time budgets to densities")
        }
        try stage("mask (CSR)", stream)
        let mask = try DeviceBlockMask(geometry: g, heads: heads, rowOffsets: w.rowOffsets, keyBlocks: w.keyBlocks)
        return Result(mask: mask, plan: w.plan, workspace: w)
    }

    /// log2(e) · the spec's softmax scale, the probes' logit factor (`AttentionSpec.probeScaleLog2`).
    static func probeScaleLog2(spec: AttentionSpec, headDim d: Int) throws -> Float {
        try spec.probeScaleLog2(headDim: d, estimator: "the GPU skeleton estimator")
    }

    fileprivate func stage(_ name: String, _ stream: GPUStream) throws {
        guard profileStages else { return }
        let e = try GPUEvent(device: device)
        try e.record(on: stream)
        stageEvents.append((name, e))
    }

    fileprivate func fitKernel(_ entry: String, threads: Int, sharedBytes: Int = 0) throws -> GPUKernel {
        try moduleKernel(entry, file: Self.fitSource, threads: threads, sharedBytes: sharedBytes)
    }
    fileprivate func maskKernel(_ entry: String, threads: Int, sharedBytes: Int = 0) throws -> GPUKernel {
        try moduleKernel(entry, file: Self.maskSource, threads: threads, sharedBytes: sharedBytes)
    }

    /// One estimate's launch sequence: the steps of the type comment, each filling its kernels'
    /// parameter structs from the workspace.
    private struct Run {
        let estimator: GPUSkeletonEstimator
        let w: GPUSkeletonWorkspace
        let shape: AttentionShape
        let dtype: DType
        let g: TileGeometry
        let stream: GPUStream
        var parameters: SkeletonParameters { estimator.parameters }
        var plan: SkeletonProbePlan { w.plan }
        var n: Int { shape.tokens }
        var heads: Int { shape.queryHeads }
        var keyTiles: Int { (shape.tokens + 63) / 64 }
        /// Key tiles of the longest (last) row of tiles.
        var maxRowLength: Int { g.lastCausalKeyBlock(g.queryBlocks - 1) + 1 }

        func stage(_ name: String) throws { try estimator.stage(name, stream) }

        func fill(_ buf: DeviceBuffer, value: Float = 0) throws {
            let fill = try estimator.fitKernel("skeleton_fill_f32", threads: 256)
            let count = buf.byteCount / 4
            try fill.launch(grid: ((count + 255) / 256, 1, 1), stream: stream,
                            params: SKFillF32Params(out: buf.pointer, count: Int64(count), value: value))
        }

        /// Every accumulator of pass 2 and the fit zeroed, v = s = 1: one launch per estimate.
        func initialise() throws {
            let k = try estimator.fitKernel("skeleton_estimate_init", threads: 256)
            let count = heads * n, zCount = heads * w.fitRowStride
            try k.launch(grid: ((max(count, zCount) + 255) / 256, 1, 1), stream: stream, params: SKEstimateInitParams(
                colObs: w.colObs.pointer, diagObs: w.diagObs.pointer, den: w.den.pointer, v: w.v.pointer, s: w.s.pointer,
                z: w.z.pointer, fitBarrier: w.fitBarrier.pointer, count: Int64(count), zCount: Int64(zCount)))
        }

        // 1. probes: one CTA per (group, H query heads sharing a KV head), H as large as the
        //    group size and shared memory allow (each K tile then serves H heads)
        func probes(q: DeviceBuffer, k: DeviceBuffer, scaleLog2: Float) throws {
            let d = shape.headDim
            let ring = plan.diagonalRing
            var rowShift = 0
            while (1 << (rowShift + 1)) <= plan.stride { rowShift += 1 }
            let pass2Heads = 1
            let stridedGroups = plan.stridedFitGroups, tailGroups = plan.fitGroups - plan.stridedFitGroups
            let tailRing = 256
            let pass2Shared = max(stridedGroups > 0 ? GPUSkeletonEstimator.probePass2SharedBytes(heads: pass2Heads, headDim: d, window: ring, diagonalTile: false) : 0,
                                  tailGroups > 0 ? GPUSkeletonEstimator.probePass2SharedBytes(heads: pass2Heads, headDim: d, window: tailRing, diagonalTile: true) : 0)
            // pass 1: two heads of a KV group per CTA (each K tile serves both) where the group allows
            let h1 = shape.groupSize % 2 == 0 ? 2 : 1
            // long rows are split into chunks of key tiles, one CTA each (probe rows are few: the grid
            // would otherwise be a few hundred CTAs of very unequal length, a long serial walk at small N)
            let chunkTiles = GPUSkeletonEstimator.probeChunkTiles(keyTiles: keyTiles, groups: plan.groups, headSets: heads / h1,
                                                                  multiprocessors: estimator.device.multiprocessors)
            let chunks = (keyTiles - 1) / chunkTiles + 1
            let pass1 = try estimator.probeKernel(pass: 1, heads: h1, headDim: d, dtype: dtype,
                                                  sharedBytes: GPUSkeletonEstimator.probePass1SharedBytes(heads: h1, headDim: d))
            try pass1.launch(grid: (plan.groups * chunks, heads / h1, 1), stream: stream, params: SKProbePass1Params(
                q: q.pointer, k: k.pointer, groupRows: w.groupRows.pointer, tileLse2: w.tileLse2.pointer,
                tokens: Int32(n), queryHeads: Int32(heads), kvHeads: Int32(shape.kvHeads), scaleLog2: scaleLog2,
                probes: Int32(plan.probes), keyTiles: Int32(keyTiles), chunks: Int32(chunks), chunkTiles: Int32(chunkTiles)))
            let rowLse = try estimator.probeKernel(pass: 1, heads: h1, headDim: d, dtype: dtype, sharedBytes: 0, entry: "skeleton_row_lse", threads: 256)
            try rowLse.launch(grid: ((plan.probes * heads * 32 + 255) / 256, 1, 1), stream: stream, params: SKProbeRowLseParams(
                groupRows: w.groupRows.pointer, tileLse2: w.tileLse2.pointer, rowLse2: w.rowLse2.pointer,
                probes: Int32(plan.probes), keyTiles: Int32(keyTiles), heads: Int32(heads)))
            try stage("probes pass 1 (all probe rows)")
            // pass 2, one launch, longest walks first: the tail group's CTAs of every head (small ring and
            // the shared tile its per-diagonal sums go through), then the strided fit groups from the
            // last down (ring of `ring` floats)
            if plan.fitGroups > 0 {
                let pass2 = try estimator.probeKernel(pass: 2, heads: pass2Heads, headDim: d, dtype: dtype, sharedBytes: pass2Shared)
                try pass2.launch(grid: (heads / pass2Heads, plan.fitGroups * chunks, 1), threads: GPUSkeletonEstimator.probeThreads(pass: 2),
                                 sharedBytes: pass2Shared, stream: stream, params: SKProbePass2Params(
                    q: q.pointer, k: k.pointer, groupRows: w.groupRows.pointer, rowLse2: w.rowLse2.pointer,
                    colObs: w.colObs.pointer, diagObs: w.diagObs.pointer,
                    tokens: Int32(n), queryHeads: Int32(heads), kvHeads: Int32(shape.kvHeads), scaleLog2: scaleLog2,
                    probes: Int32(plan.probes), keyTiles: Int32(keyTiles), chunks: Int32(chunks), chunkTiles: Int32(chunkTiles),
                    window: Int32(ring), rowShift: Int32(rowShift), stridedGroups: Int32(stridedGroups),
                    tailGroups: Int32(tailGroups), tailWindow: Int32(tailRing)))
            }
            try stage("probes pass 2 (fit rows: column / diagonal sums)")
        }

        // 2. factor fit (IPF), v = s = 1 and the accumulators z, den = 0 from `initialise`: each
        //    step is one launch of sums (strided and tail rows together) and one that applies them
        //    and zeroes the accumulator for the next step
        func factorFit() throws {
            if estimator.persistentFit, try persistentFactorFit() { return }
            let W = plan.stridedFitRows, T = plan.tailRows, S = plan.stride
            let U = (n + S - 1) / S
            let step = try estimator.fitKernel("skeleton_ipf_step", threads: 64,
                                               sharedBytes: GPUSkeletonEstimator.ipfSharedBytes(stridedRows: W, residueLength: U))
            let finishH = try estimator.fitKernel("skeleton_ipf_finish_h", threads: 256)
            let update = try estimator.fitKernel("skeleton_ipf_update", threads: 256)
            let fitRowStride = Int32(w.fitRowStride)
            func sums(mode: Int32, out: DeviceBuffer) throws {
                // tail CTAs: 256 keys each for z, 256 outputs each for den
                let tailBlocks = T == 0 ? 0 : (n + 255) / 256
                try step.launch(grid: (S + tailBlocks, heads, 1), stream: stream, params: SKIPFStepParams(
                    v: w.v.pointer, s: w.s.pointer, rowNormalisers: w.h.pointer, out: out.pointer,
                    tailOut: T > 0 && mode != 0 ? w.denTail.pointer : 0, mode: mode,
                    tokens: Int32(n), stride: Int32(S), offset: Int32(plan.offset), stridedRows: Int32(W),
                    residueLength: Int32(U), fitRowStride: fitRowStride, tailRows: Int32(T), tailBlocks: Int32(tailBlocks)))
            }
            func updateRowNormalisers() throws {
                try sums(mode: 0, out: w.z)
                try finishH.launch(grid: ((heads * w.fitRowStride + 255) / 256, 1, 1), stream: stream, params: SKIPFFinishRowsParams(
                    z: w.z.pointer, rowNormalisers: w.h.pointer, count: Int32(heads * w.fitRowStride)))
            }
            // mode 1: the slash factor s from the diagonal masses; mode 2: the vertical v from the columns
            func updateFactor(mode: Int32) throws {
                try sums(mode: mode, out: w.den)
                let count = heads * n
                try update.launch(grid: ((count + 255) / 256, 1, 1), stream: stream, params: SKIPFUpdateParams(
                    factor: (mode == 1 ? w.s : w.v).pointer, observed: (mode == 1 ? w.diagObs : w.colObs).pointer,
                    denominator: w.den.pointer, tailDenominator: T > 0 ? w.denTail.pointer : 0, count: Int64(count)))
            }
            for sweep in 0..<max(1, parameters.fitSweeps) {
                // the first sweep's steps are profiled one by one
                try updateRowNormalisers(); if sweep == 0 { try stage("IPF sweep 1: row normalisers h") }
                try updateFactor(mode: 1); if sweep == 0 { try stage("IPF sweep 1: slash s") }
                try updateRowNormalisers(); if sweep == 0 { try stage("IPF sweep 1: h again") }
                try updateFactor(mode: 2); if sweep == 0 { try stage("IPF sweep 1: vertical v") }
            }
            try stage("factor fit (IPF sweeps 2–\(parameters.fitSweeps))")
        }

        // 2'. the same fit in one launch: a grid of at most the resident CTAs (cooperative, so all of it
        //    is resident at once, or the launch fails; a plain launch while the stream is captured)
        //    loops over the step kernel's work items, with grid barriers between the steps. Runs only
        //    where the resident CTAs cover a step's items (or a grid limit is set); false: not run.
        func persistentFactorFit() throws -> Bool {
            let W = plan.stridedFitRows, T = plan.tailRows, S = plan.stride
            let U = (n + S - 1) / S
            let shared = GPUSkeletonEstimator.ipfSharedBytes(stridedRows: W, residueLength: U)
            let fit = try estimator.fitKernel("skeleton_ipf_fit", threads: 64, sharedBytes: shared)
            let tailBlocks = T == 0 ? 0 : (n + 255) / 256
            let items = (W > 0 ? S * heads : 0) + tailBlocks * heads
            let resident = try fit.blocksPerMultiprocessor() * estimator.device.multiprocessors
            guard resident > 0 else { throw CUDAError.unsupported("skeleton_ipf_fit: no CTA fits on a multiprocessor (\(shared) B shared)") }
            if estimator.persistentFitGridLimit == nil && items > resident { return false }
            let grid = min(max(items, 1), resident, max(1, estimator.persistentFitGridLimit ?? resident))
            try fit.launch(grid: (grid, 1, 1), stream: stream, cooperative: try !stream.isCapturing(), params: SKIPFFitParams(
                v: w.v.pointer, s: w.s.pointer, z: w.z.pointer, rowNormalisers: w.h.pointer, den: w.den.pointer,
                denTail: w.denTail.pointer, colObs: w.colObs.pointer, diagObs: w.diagObs.pointer, barrier: w.fitBarrier.pointer,
                tokens: Int32(n), stride: Int32(S), offset: Int32(plan.offset), stridedRows: Int32(W), residueLength: Int32(U),
                fitRowStride: Int32(w.fitRowStride), tailRows: Int32(T), tailBlocks: Int32(tailBlocks), heads: Int32(heads),
                sweeps: Int32(max(1, parameters.fitSweeps))))
            try stage("factor fit (IPF: \(max(1, parameters.fitSweeps)) sweeps in one launch)")  // no ", ": estcost.sh splits stages on it
            return true
        }

        // tile masses + local blend (the window sums of s go to the `den` array)
        func tileMasses() throws {
            let prefix = try estimator.fitKernel("skeleton_prefix_s", threads: 1024)
            try prefix.launch(grid: (heads, 1, 1), stream: stream, params: SKPrefixSumsParams(
                s: w.s.pointer, prefix: w.prefix.pointer, windowSums: w.den.pointer, tokens: Int32(n), queryTile: Int32(g.queryTile)))
            // off-diagonal tiles of full query blocks as one product
            let fullBlocks = n / g.queryTile
            let r = g.queryTile / 64
            let product = try estimator.fitKernel("skeleton_tile_product", threads: 256)
            try product.launch(grid: ((keyTiles / r + 32) / 32, (fullBlocks + 32) / 32, heads * r), stream: stream, params: SKTileProductParams(
                v: w.v.pointer, windowSums: w.den.pointer, rowStart: w.rowStart.pointer, est: w.est.pointer,
                tokens: Int32(n), queryTile: Int32(g.queryTile), fullBlocks: Int32(fullBlocks), tilesPerHead: Int32(w.tilesPerHead)))
            let masses = try estimator.fitKernel("skeleton_tile_masses", threads: 256, sharedBytes: maxRowLength * 4)
            try masses.launch(grid: (g.queryBlocks, heads, 1), stream: stream, params: SKTileMassesParams(
                v: w.v.pointer, prefix: w.prefix.pointer, rowStart: w.rowStart.pointer, blockProbeStart: w.blockProbeStart.pointer,
                probeIndex: w.blockProbeIndex.pointer, probeRow: w.blockProbeRow.pointer, tileLse2: w.tileLse2.pointer,
                rowLse2: w.rowLse2.pointer, est: w.est.pointer, probes: Int32(plan.probes), keyTiles: Int32(keyTiles),
                localWeight: Float(parameters.localWeight), tokens: Int32(n), queryTile: Int32(g.queryTile),
                tilesPerHead: Int32(w.tilesPerHead)))
            try stage("tile masses + local blend")
        }

        // 3. mask, error bound: rows sorted once, ε' calibrated per head, kept prefixes, CSR
        func errorBoundMask(epsilon eps: Double) throws {
            let sink = Int32(parameters.alwaysKeep.sinkBlocks), local = Int32(parameters.alwaysKeep.localBlocks)
            let band = Int32(parameters.alwaysKeep.bandTokens)
            let rows = heads * g.queryBlocks
            let tokens = Int32(n), queryTile = Int32(g.queryTile), tilesPerHead = Int32(w.tilesPerHead)
            var p2 = 1
            while p2 < maxRowLength { p2 *= 2 }
            let sort = try estimator.maskKernel("skeleton_sort_rows", threads: 512, sharedBytes: p2 * 8)
            try sort.launch(grid: (g.queryBlocks, heads, 1), stream: stream, params: SKSortRowsParams(
                est: w.est.pointer, rowStart: w.rowStart.pointer, sortedIndex: w.sorted.pointer, cum: w.cum.pointer,
                tokens: tokens, queryTile: queryTile, tilesPerHead: tilesPerHead, sinkBlocks: sink, localBlocks: local, bandTokens: band))
            try stage("sort rows")
            let checks = plan.checkRows.count
            if parameters.calibrate && checks > 0 {
                let checkPrefix = try estimator.maskKernel("skeleton_check_prefix", threads: 256)
                try checkPrefix.launch(grid: (checks, heads, 1), stream: stream, params: SKCheckPrefixParams(
                    checkRow: w.checkRow.pointer, checkProbe: w.checkProbe.pointer, checkStart: w.checkStart.pointer,
                    rowStart: w.rowStart.pointer, sortedIndex: w.sorted.pointer, tileLse2: w.tileLse2.pointer,
                    rowLse2: w.rowLse2.pointer, checkCum: w.checkCum.pointer, checkPerHead: Int64(w.checkPerHead),
                    probes: Int32(plan.probes), keyTiles: Int32(keyTiles), tokens: tokens, queryTile: queryTile, tilesPerHead: tilesPerHead))
                let calibrate = try estimator.maskKernel("skeleton_calibrate", threads: 256)
                try calibrate.launch(grid: (heads, 1, 1), stream: stream, params: SKCalibrateParams(
                    checkRow: w.checkRow.pointer, checkStart: w.checkStart.pointer, rowStart: w.rowStart.pointer, cum: w.cum.pointer,
                    checkCum: w.checkCum.pointer, epsilonOut: w.epsilon.pointer, recallOut: w.recall.pointer,
                    checkPerHead: Int64(w.checkPerHead), tailFloor: 1 - parameters.tailScale * eps, checks: Int32(checks),
                    epsilon: Float(eps), confidenceZ: Float(parameters.confidenceZ), margin: Float(parameters.calibrationMargin),
                    tailAllowed: Int32(parameters.tailQuantile.map { Int(($0 * Double(checks)).rounded(.down)) } ?? -1),
                    tokens: tokens, queryTile: queryTile, tilesPerHead: tilesPerHead, sinkBlocks: sink, localBlocks: local, bandTokens: band))
            } else {
                try fill(w.epsilon, value: Float(eps)); try fill(w.recall, value: Float(1 - eps))
            }
            try stage("calibration (check rows)")
            let count = try estimator.maskKernel("skeleton_count_error_bound", threads: 256)
            try count.launch(grid: ((rows + 255) / 256, 1, 1), stream: stream, params: SKCountErrorBoundParams(
                rowStart: w.rowStart.pointer, cum: w.cum.pointer, epsilonHead: w.epsilon.pointer, count: w.count.pointer,
                tokens: tokens, queryTile: queryTile, queryBlocks: Int32(g.queryBlocks), heads: Int32(heads),
                tilesPerHead: tilesPerHead, sinkBlocks: sink, localBlocks: local, bandTokens: band))
            try scan(w.count, into: w.rowOffsets)
            let fillMask = try estimator.maskKernel("skeleton_fill_error_bound", threads: 256, sharedBytes: maxRowLength * 4)
            try fillMask.launch(grid: (g.queryBlocks, heads, 1), stream: stream, params: SKFillErrorBoundParams(
                rowStart: w.rowStart.pointer, sortedIndex: w.sorted.pointer, count: w.count.pointer, offsets: w.rowOffsets.pointer,
                keyBlocks: w.keyBlocks.pointer, tokens: tokens, queryTile: queryTile, queryBlocks: Int32(g.queryBlocks),
                tilesPerHead: tilesPerHead))
        }

        // 3. mask, budget: one radix-selected τ over all heads, ties in index order, CSR
        func budgetMask(density dens: Double) throws {
            let sink = Int32(parameters.alwaysKeep.sinkBlocks), local = Int32(parameters.alwaysKeep.localBlocks)
            let band = Int32(parameters.alwaysKeep.bandTokens)
            let rows = heads * g.queryBlocks
            let tokens = Int32(n), queryTile = Int32(g.queryTile), queryBlocks = Int32(g.queryBlocks), tilesPerHead = Int32(w.tilesPerHead)
            let total = heads * w.tilesPerHead
            let target = min(total, Int((dens * Double(total)).rounded()))
            let take = target - GPUSkeletonEstimator.alwaysKeptTilesPerHead(parameters.alwaysKeep, geometry: g) * heads
            let initK = try estimator.maskKernel("skeleton_budget_init", threads: 256)
            try initK.launch(grid: (1, 1, 1), stream: stream, params: SKBudgetInitParams(
                state: w.budgetState.pointer, hist: w.budgetHistogram.pointer, take: Int32(max(0, take))))
            let hist = try estimator.maskKernel("skeleton_budget_hist", threads: 256)
            let pick = try estimator.maskKernel("skeleton_budget_pick", threads: 32)
            for shift: Int32 in [24, 16, 8, 0] {
                try hist.launch(grid: ((g.queryBlocks + 7) / 8, heads, 1), stream: stream, params: SKBudgetHistParams(
                    est: w.est.pointer, rowStart: w.rowStart.pointer, state: w.budgetState.pointer, hist: w.budgetHistogram.pointer,
                    shift: shift, tokens: tokens, queryTile: queryTile, queryBlocks: queryBlocks, tilesPerHead: tilesPerHead,
                    sinkBlocks: sink, localBlocks: local, bandTokens: band))
                try pick.launch(grid: (1, 1, 1), stream: stream, params: SKBudgetPickParams(
                    hist: w.budgetHistogram.pointer, state: w.budgetState.pointer, shift: shift))
            }
            let countK = try estimator.maskKernel("skeleton_budget_count", threads: 256)
            try countK.launch(grid: (g.queryBlocks, heads, 1), stream: stream, params: SKBudgetCountParams(
                est: w.est.pointer, rowStart: w.rowStart.pointer, state: w.budgetState.pointer, count: w.count.pointer,
                ties: w.ties.pointer, tokens: tokens, queryTile: queryTile, queryBlocks: queryBlocks, tilesPerHead: tilesPerHead,
                sinkBlocks: sink, localBlocks: local, bandTokens: band))
            try scan(w.ties, into: w.tieOffset)
            let addTies = try estimator.maskKernel("skeleton_budget_add_ties", threads: 256)
            try addTies.launch(grid: ((rows + 255) / 256, 1, 1), stream: stream, params: SKBudgetAddTiesParams(
                count: w.count.pointer, ties: w.ties.pointer, tieOffset: w.tieOffset.pointer, state: w.budgetState.pointer,
                rows: Int32(rows)))
            try scan(w.count, into: w.rowOffsets)
            let fillB = try estimator.maskKernel("skeleton_fill_budget", threads: 256)
            try fillB.launch(grid: (g.queryBlocks, heads, 1), stream: stream, params: SKFillBudgetParams(
                est: w.est.pointer, rowStart: w.rowStart.pointer, state: w.budgetState.pointer, tieOffset: w.tieOffset.pointer,
                offsets: w.rowOffsets.pointer, keyBlocks: w.keyBlocks.pointer, tokens: tokens, queryTile: queryTile,
                queryBlocks: queryBlocks, tilesPerHead: tilesPerHead, sinkBlocks: sink, localBlocks: local, bandTokens: band))
            try fill(w.epsilon, value: .nan); try fill(w.recall, value: .nan)
        }

        /// offsets[0...rows] = the exclusive scan of the per-row counts.
        func scan(_ counts: DeviceBuffer, into offsets: DeviceBuffer) throws {
            let scan = try estimator.maskKernel("skeleton_scan_rows", threads: 1024)
            try scan.launch(grid: (1, 1, 1), stream: stream, params: SKScanRowsParams(
                count: counts.pointer, offsets: offsets.pointer, rows: Int32(heads * g.queryBlocks)))
        }
    }
}
