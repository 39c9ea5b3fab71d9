import SparseSkeleton

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
/// Its knobs are the CPU estimator's `SkeletonParameters` (so `SkeletonEstimator(parameters:)` with the
/// same value is its reference); the default, `.growingStride`, lets the probe stride grow with N
/// so the probe work stays about 1024 rows per head; at N ≤ 32K it equals the CPU default (32).
public final class GPUSkeletonEstimator: @unchecked Sendable {
    public let library: KernelLibrary
    public var device: GPUDevice { library.device }
    public var parameters: SkeletonParameters
    private var workspace: Workspace?
    /// When true, `estimate` records an event after each stage; `stageMilliseconds()` reads them
    /// (after the stream is synchronised). For benchmarks; costs a few microseconds per stage.
    public var profileStages = false
    private var stageEvents: [(String, GPUEvent)] = []

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

    /// Device arrays of one shape, reused across calls (the returned mask lives in it: it is valid
    /// until the next `estimate` of the same shape).
    final class Workspace {
        let key: String
        let plan: SkeletonProbePlan
        let heads: Int
        let tilesPerHead: Int
        let checkPerHead: Int
        let buffers: [String: DeviceBuffer]
        init(key: String, plan: SkeletonProbePlan, heads: Int, tilesPerHead: Int, checkPerHead: Int, buffers: [String: DeviceBuffer]) {
            self.key = key; self.plan = plan; self.heads = heads; self.tilesPerHead = tilesPerHead
            self.checkPerHead = checkPerHead; self.buffers = buffers
        }
        subscript(_ name: String) -> DeviceBuffer { buffers[name]! }
    }

    private func workspace(shape: AttentionShape, geometry g: TileGeometry) throws -> Workspace {
        let stride = parameters.stride(tokens: g.tokens)
        let key = "\(g) \(shape) \(stride) \(parameters.lastRows)"
        if let w = workspace, w.key == key { return w }
        workspace = nil  // free the old one first
        let plan = try SkeletonProbePlan(tokens: g.tokens, lastRows: parameters.lastRows, stride: stride)
        let masses = try TileMasses(geometry: g, heads: 1)
        let tiles = masses.tilesPerHead
        let rowStart = masses.rowStart.map { Int32($0) }
        let n = g.tokens, h = shape.queryHeads, keyTiles = (n + 63) / 64
        var checkStart: [Int64] = []
        var total = 0
        for r in plan.checkRows { checkStart.append(Int64(total)); total += masses.rowLength(r / g.queryTile) }
        let hStride = plan.stridedFitRows + plan.tailRows
        let blocks = plan.fitProbesByBlock(queryTile: g.queryTile)
        var b: [String: DeviceBuffer] = [:]
        func alloc(_ name: String, _ bytes: Int) throws { b[name] = try DeviceBuffer(device: device, byteCount: max(bytes, 4)) }
        try alloc("groupRows", plan.groupRows.count * 4)
        try alloc("tileLse2", h * plan.probes * keyTiles * 4)
        try alloc("rowLse2", h * plan.probes * 4)
        for name in ["v", "s", "colObs", "diagObs", "den"] { try alloc(name, h * n * 4) }
        try alloc("z", h * hStride * 4); try alloc("h", h * hStride * 4)
        try alloc("prefix", h * (n + 1) * 8)
        try alloc("rowStart", rowStart.count * 4)
        try alloc("blockStart", blocks.blockStart.count * 4); try alloc("blockProbe", blocks.probe.count * 4); try alloc("blockRow", blocks.row.count * 4)
        try alloc("est", h * tiles * 4); try alloc("cum", h * tiles * 4); try alloc("sorted", h * tiles * 4)
        try alloc("checkRow", plan.checkRows.count * 4); try alloc("checkProbe", plan.checkRows.count * 4)
        try alloc("checkStart", plan.checkRows.count * 8); try alloc("checkCum", h * total * 4)
        try alloc("eps", h * 4); try alloc("recall", h * 4)
        let rows = h * g.queryBlocks
        try alloc("count", rows * 4); try alloc("ties", rows * 4); try alloc("tieOffset", (rows + 1) * 4)
        try alloc("rowOffsets", (rows + 1) * 4); try alloc("keyBlocks", h * tiles * 4)
        try alloc("state", 16); try alloc("hist", 256 * 4)
        try b["groupRows"]!.upload(plan.groupRows)
        try b["rowStart"]!.upload(rowStart)
        try b["blockStart"]!.upload(blocks.blockStart); try b["blockProbe"]!.upload(blocks.probe); try b["blockRow"]!.upload(blocks.row)
        try b["checkRow"]!.upload(plan.checkRows.map { Int32($0) }); try b["checkProbe"]!.upload(plan.checkProbeIndex)
        try b["checkStart"]!.upload(checkStart)
        let w = Workspace(key: key, plan: plan, heads: h, tilesPerHead: tiles, checkPerHead: total, buffers: b)
        workspace = w
        return w
    }

    /// Fills every workspace array with 0xFF bytes (NaN floats, −1 ints), so a check can tell an
    /// output the next `estimate` did not write. The plan's uploaded index arrays are kept.
    public func poisonWorkspace() throws {
        guard let w = workspace else { return }
        let inputs: Set<String> = ["groupRows", "rowStart", "blockStart", "blockProbe", "blockRow", "checkRow", "checkProbe", "checkStart"]
        for (name, buf) in w.buffers where !inputs.contains(name) { try buf.fill8(0xFF) }
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
        let workspace: Workspace
        /// Estimated tile masses [head][TileMasses order], normalised per query block.
        public func tileEstimates() throws -> [Float] { try workspace["est"].download(Float.self, count: workspace.heads * workspace.tilesPerHead) }
        /// Per head: the calibrated internal ε' (error-bound mode) and the check rows' mean recall.
        public func internalEpsilons() throws -> [Float] { try workspace["eps"].download(Float.self, count: workspace.heads) }
        public func probeRecalls() throws -> [Float] { try workspace["recall"].download(Float.self, count: workspace.heads) }
    }

    /// Runs the whole estimator on `stream` (asynchronous; synchronise before reading results).
    /// q: [N, queryHeads, d], k: [N, kvHeads, d], 16-bit `dtype`. The mask's key tile must be 64.
    public func estimate(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry g: TileGeometry,
                         target: MaskTarget, stream: GPUStream) throws -> Result {
        let target = try target.tileTarget(estimator: "GPUSkeletonEstimator.estimate (use the time-budget planner)")
        guard g.tokens == shape.tokens else { throw SkeletonError.shapeMismatch("tile geometry has N = \(g.tokens), inputs \(shape)") }
        guard g.keyTile == 64 else { throw CUDAError.unsupported("the GPU skeleton estimator builds masks with 64-key tiles (asked \(g.keyTile))") }
        guard dtype != .f32 else { throw CUDAError.unsupported("the GPU skeleton estimator takes f16 or bf16 Q/K, not f32") }
        guard SkeletonError.supportedHeadDims.contains(shape.headDim) else { throw SkeletonError.unsupportedHeadDim(shape.headDim) }
        try parameters.validate(tokens: shape.tokens)
        guard parameters.ratioPower == 0, !parameters.shareGroupMask else {
            throw CUDAError.unsupported("the GPU skeleton estimator has no probe ratio correction or shared group masks (ratioPower \(parameters.ratioPower), shareGroupMask \(parameters.shareGroupMask))")
        }
        let n = shape.tokens, heads = shape.queryHeads, d = shape.headDim, e = dtype.byteSize
        for (name, buf, need) in [("Q", q, n * heads * d * e), ("K", k, n * shape.kvHeads * d * e)] where buf.byteCount < need {
            throw SkeletonError.shapeMismatch("\(name) buffer holds \(buf.byteCount) B, \(shape) needs \(need) B")
        }
        let w = try workspace(shape: shape, geometry: g)
        let plan = w.plan
        stageEvents = []
        func stage(_ name: String) throws {
            guard profileStages else { return }
            let e = try GPUEvent(device: device)
            try e.record(on: stream)
            stageEvents.append((name, e))
        }
        try stage("start")
        let keyTiles = (n + 63) / 64
        let scaleLog2 = Float(1.4426950408889634 / Double(d).squareRoot())
        let i32 = { (x: Int) in KernelArgument.int32(Int32(x)) }
        let hStride = plan.stridedFitRows + plan.tailRows
        let fill = try moduleKernel("skeleton_fill_f32", file: Self.fitSource, threads: 256, sharedBytes: 0)
        func zero(_ buf: DeviceBuffer, value: Float = 0) throws {
            let count = buf.byteCount / 4
            try fill.launch(grid: ((count + 255) / 256, 1, 1), stream: stream, args: [.buffer(buf), .float(value), .int64(Int64(count))])
        }

        // 1. probes: one CTA per (group, H query heads sharing a KV head), H as large as the
        //    group size and shared memory allow (each K tile then serves H heads)
        let ring = plan.diagonalRing
        var rowShift = 0
        while (1 << (rowShift + 1)) <= plan.stride { rowShift += 1 }
        func probeShared(pass: Int, heads h: Int, window: Int, diagonalTile: Bool) -> Int {
            var b = (h * 64 + 2 * 64) * d * 2 + 64 * 4
            if pass == 2 { b += (h * 4 * 64 + h * window + (diagonalTile ? h * 64 * 65 : 0)) * 4 }
            return b
        }
        // long rows are split into chunks of 256 key tiles, one CTA each (probe rows are few: the
        // grid would otherwise be a few hundred CTAs of very unequal length)
        let chunkTiles = 256
        let chunks = ((n - 1) / 64) / chunkTiles + 1
        // pass 1: two heads of a KV group per CTA (each K tile serves both) where the group allows
        let h1 = shape.groupSize % 2 == 0 ? 2 : 1
        let pass1 = try probeKernel(pass: 1, heads: h1, headDim: d, dtype: dtype, sharedBytes: probeShared(pass: 1, heads: h1, window: 0, diagonalTile: false))
        try pass1.launch(grid: (plan.groups * chunks, heads / h1, 1), stream: stream, args: [
            .buffer(q), .buffer(k), .buffer(w["groupRows"]), i32(n), i32(heads), i32(shape.kvHeads), .float(scaleLog2),
            i32(plan.probes), i32(keyTiles), .buffer(w["tileLse2"]), .pointer(0), .pointer(0), .pointer(0), i32(0), i32(rowShift),
            i32(0), i32(chunks), i32(chunkTiles)])
        let rowLse = try probeKernel(pass: 1, heads: h1, headDim: d, dtype: dtype, sharedBytes: 0, entry: "skeleton_row_lse", threads: 256)
        try rowLse.launch(grid: ((plan.probes * heads * 32 + 255) / 256, 1, 1), stream: stream, args: [
            .buffer(w["groupRows"]), .buffer(w["tileLse2"]), .buffer(w["rowLse2"]), i32(plan.probes), i32(keyTiles), i32(heads)])
        try stage("probes pass 1 (all probe rows)")
        try zero(w["colObs"]); try zero(w["diagObs"])
        // pass 2: strided fit groups (ring of `ring` floats), then the tail group (small ring, and
        // the shared tile its per-diagonal sums go through)
        let strideGroups = plan.stridedFitGroups, tailGroups = plan.fitGroups - plan.stridedFitGroups
        for (offset, count, window, tail) in [(0, strideGroups, ring, false), (strideGroups, tailGroups, 256, true)] where count > 0 {
            let bytes = probeShared(pass: 2, heads: 1, window: window, diagonalTile: tail)
            let pass2 = try probeKernel(pass: 2, heads: 1, headDim: d, dtype: dtype, sharedBytes: bytes)
            try pass2.launch(grid: (count * chunks, heads, 1), threads: Self.probeThreads(pass: 2), sharedBytes: bytes, stream: stream, args: [
                .buffer(q), .buffer(k), .buffer(w["groupRows"]), i32(n), i32(heads), i32(shape.kvHeads), .float(scaleLog2),
                i32(plan.probes), i32(keyTiles), .pointer(0), .buffer(w["rowLse2"]), .buffer(w["colObs"]), .buffer(w["diagObs"]),
                i32(window), i32(tail ? 5 : rowShift), i32(offset), i32(chunks), i32(chunkTiles)])
        }
        try stage("probes pass 2 (fit rows: column / diagonal sums)")
        // 2. factor fit (IPF), v = s = 1 to start
        try zero(w["v"], value: 1); try zero(w["s"], value: 1)
        let W = plan.stridedFitRows, T = plan.tailRows, S = plan.stride
        let U = (n + S - 1) / S
        let L = (U + 16 + 7) / 8 * 8
        let stridedShared = (2 * L + W + 8) * 4
        // 64 threads: W / 8 chunks pair up into W / 16 ≈ 64 equal work items
        let strided = try moduleKernel("skeleton_ipf_strided", file: Self.fitSource, threads: 64, sharedBytes: stridedShared)
        let tailZ = try moduleKernel("skeleton_ipf_tail_z", file: Self.fitSource, threads: 256, sharedBytes: 0)
        let tailDen = try moduleKernel("skeleton_ipf_tail_den", file: Self.fitSource, threads: 256, sharedBytes: 0)
        let finishH = try moduleKernel("skeleton_ipf_finish_h", file: Self.fitSource, threads: 256, sharedBytes: 0)
        let update = try moduleKernel("skeleton_ipf_update", file: Self.fitSource, threads: 256, sharedBytes: 0)
        func updateH() throws {
            try zero(w["z"])
            if W > 0 {
                try strided.launch(grid: (S, heads, 1), stream: stream, args: [
                    i32(0), .buffer(w["v"]), .buffer(w["s"]), .buffer(w["h"]), .buffer(w["z"]), .pointer(0),
                    i32(n), i32(S), i32(plan.offset), i32(W), i32(U), i32(hStride)])
            }
            if T > 0 {
                try tailZ.launch(grid: ((n + 1023) / 1024, heads, 1), stream: stream, args: [.buffer(w["v"]), .buffer(w["s"]), .buffer(w["z"]), i32(n), i32(T), i32(W), i32(hStride)])
            }
            try finishH.launch(grid: ((heads * hStride + 255) / 256, 1, 1), stream: stream, args: [.buffer(w["z"]), .buffer(w["h"]), i32(heads * hStride)])
        }
        func denominators(mode: Int) throws {
            try zero(w["den"])
            if W > 0 {
                try strided.launch(grid: (S, heads, 1), stream: stream, args: [
                    i32(mode), .buffer(w["v"]), .buffer(w["s"]), .buffer(w["h"]), .pointer(0), .buffer(w["den"]),
                    i32(n), i32(S), i32(plan.offset), i32(W), i32(U), i32(hStride)])
            }
            if T > 0 {
                try tailDen.launch(grid: ((n + 255) / 256, heads, 1), stream: stream, args: [
                    i32(mode), .buffer(w["v"]), .buffer(w["s"]), .buffer(w["h"]), .buffer(w["den"]), i32(n), i32(T), i32(W), i32(hStride)])
            }
            let count = heads * n
            try update.launch(grid: ((count + 255) / 256, 1, 1), stream: stream, args: [
                .buffer(mode == 1 ? w["s"] : w["v"]), .buffer(mode == 1 ? w["diagObs"] : w["colObs"]), .buffer(w["den"]), .int64(Int64(count))])
        }
        for sweep in 0..<max(1, parameters.fitSweeps) {
            // the first sweep's steps are profiled one by one
            try updateH(); if sweep == 0 { try stage("IPF sweep 1: row normalisers h") }
            try denominators(mode: 1); if sweep == 0 { try stage("IPF sweep 1: slash s") }
            try updateH(); if sweep == 0 { try stage("IPF sweep 1: h again") }
            try denominators(mode: 2); if sweep == 0 { try stage("IPF sweep 1: vertical v") }
        }
        try stage("factor fit (IPF sweeps 2–\(parameters.fitSweeps))")
        // tile masses + local blend
        let prefix = try moduleKernel("skeleton_prefix_s", file: Self.fitSource, threads: 1024, sharedBytes: 0)
        try prefix.launch(grid: (heads, 1, 1), stream: stream, args: [.buffer(w["s"]), .buffer(w["prefix"]), .buffer(w["den"]), i32(n), i32(g.queryTile)])
        // off-diagonal tiles of full query blocks as one product (window sums wq in the `den` array)
        let fullBlocks = n / g.queryTile
        let r = g.queryTile / 64
        let product = try moduleKernel("skeleton_tile_product", file: Self.fitSource, threads: 256, sharedBytes: 0)
        try product.launch(grid: ((keyTiles / r + 32) / 32, (fullBlocks + 32) / 32, heads * r), stream: stream, args: [
            .buffer(w["v"]), .buffer(w["den"]), .buffer(w["rowStart"]), .buffer(w["est"]), i32(n), i32(g.queryTile), i32(fullBlocks), i32(w.tilesPerHead)])
        let maxLen = g.lastCausalKeyBlock(g.queryBlocks - 1) + 1
        let tileMasses = try moduleKernel("skeleton_tile_masses", file: Self.fitSource, threads: 256, sharedBytes: maxLen * 4)
        try tileMasses.launch(grid: (g.queryBlocks, heads, 1), stream: stream, args: [
            .buffer(w["v"]), .buffer(w["prefix"]), .buffer(w["rowStart"]), .buffer(w["blockStart"]), .buffer(w["blockProbe"]),
            .buffer(w["blockRow"]), .buffer(w["tileLse2"]), .buffer(w["rowLse2"]), i32(plan.probes), i32(keyTiles),
            .float(Float(parameters.localWeight)), .buffer(w["est"]), i32(n), i32(g.queryTile), i32(w.tilesPerHead)])

        try stage("tile masses + local blend")
        // 3. mask
        let sink = parameters.alwaysKeep.sinkBlocks, local = parameters.alwaysKeep.localBlocks
        let rows = heads * g.queryBlocks
        let scan = try moduleKernel("skeleton_scan_rows", file: Self.maskSource, threads: 1024, sharedBytes: 0)
        switch target {
        case .errorBound(let eps):
            var p2 = 1
            while p2 < maxLen { p2 *= 2 }
            let sort = try moduleKernel("skeleton_sort_rows", file: Self.maskSource, threads: 512, sharedBytes: p2 * 8)
            try sort.launch(grid: (g.queryBlocks, heads, 1), stream: stream, args: [
                .buffer(w["est"]), .buffer(w["rowStart"]), .buffer(w["sorted"]), .buffer(w["cum"]), i32(n), i32(g.queryTile),
                i32(w.tilesPerHead), i32(sink), i32(local)])
            try stage("sort rows")
            let checks = plan.checkRows.count
            if parameters.calibrate && checks > 0 {
                let checkPrefix = try moduleKernel("skeleton_check_prefix", file: Self.maskSource, threads: 256, sharedBytes: 0)
                try checkPrefix.launch(grid: (checks, heads, 1), stream: stream, args: [
                    .buffer(w["checkRow"]), .buffer(w["checkProbe"]), .buffer(w["checkStart"]), .int64(Int64(w.checkPerHead)),
                    .buffer(w["rowStart"]), .buffer(w["sorted"]), .buffer(w["tileLse2"]), .buffer(w["rowLse2"]), i32(plan.probes),
                    i32(keyTiles), .buffer(w["checkCum"]), i32(n), i32(g.queryTile), i32(w.tilesPerHead)])
                let calibrate = try moduleKernel("skeleton_calibrate", file: Self.maskSource, threads: 256, sharedBytes: 0)
                try calibrate.launch(grid: (heads, 1, 1), stream: stream, args: [
                    .buffer(w["checkRow"]), .buffer(w["checkStart"]), .int64(Int64(w.checkPerHead)), i32(checks), .buffer(w["rowStart"]),
                    .buffer(w["cum"]), .buffer(w["checkCum"]), .float(Float(eps)), .float(Float(parameters.confidenceZ)),
                    .float(Float(parameters.calibrationMargin)), .buffer(w["eps"]), .buffer(w["recall"]), i32(n), i32(g.queryTile),
                    i32(w.tilesPerHead), i32(sink), i32(local)])
            } else {
                try zero(w["eps"], value: Float(eps)); try zero(w["recall"], value: Float(1 - eps))
            }
            try stage("calibration (check rows)")
            let count = try moduleKernel("skeleton_count_error_bound", file: Self.maskSource, threads: 256, sharedBytes: 0)
            try count.launch(grid: ((rows + 255) / 256, 1, 1), stream: stream, args: [
                .buffer(w["rowStart"]), .buffer(w["cum"]), .buffer(w["eps"]), .buffer(w["count"]), i32(n), i32(g.queryTile),
                i32(g.queryBlocks), i32(heads), i32(w.tilesPerHead), i32(sink), i32(local)])
            try scan.launch(grid: (1, 1, 1), stream: stream, args: [.buffer(w["count"]), .buffer(w["rowOffsets"]), i32(rows)])
            let fillMask = try moduleKernel("skeleton_fill_error_bound", file: Self.maskSource, threads: 256, sharedBytes: maxLen * 4)
            try fillMask.launch(grid: (g.queryBlocks, heads, 1), stream: stream, args: [
                .buffer(w["rowStart"]), .buffer(w["sorted"]), .buffer(w["count"]), .buffer(w["rowOffsets"]), .buffer(w["keyBlocks"]),
                i32(n), i32(g.queryTile), i32(g.queryBlocks), i32(w.tilesPerHead)])
        case .density(let dens):
            let total = heads * w.tilesPerHead
            let target = min(total, Int((dens * Double(total)).rounded()))
            var always = 0
            for qb in 0..<g.queryBlocks { always += parameters.alwaysKeep.keyBlocks(queryBlock: qb, geometry: g).count }
            let take = target - always * heads
            let initK = try moduleKernel("skeleton_budget_init", file: Self.maskSource, threads: 256, sharedBytes: 0)
            try initK.launch(grid: (1, 1, 1), stream: stream, args: [.buffer(w["state"]), .buffer(w["hist"]), i32(max(0, take))])
            let hist = try moduleKernel("skeleton_budget_hist", file: Self.maskSource, threads: 256, sharedBytes: 0)
            let pick = try moduleKernel("skeleton_budget_pick", file: Self.maskSource, threads: 32, sharedBytes: 0)
            for shift in [24, 16, 8, 0] {
                try hist.launch(grid: ((g.queryBlocks + 7) / 8, heads, 1), stream: stream, args: [
                    .buffer(w["est"]), .buffer(w["rowStart"]), .buffer(w["state"]), .buffer(w["hist"]), i32(shift), i32(n),
                    i32(g.queryTile), i32(g.queryBlocks), i32(w.tilesPerHead), i32(sink), i32(local)])
                try pick.launch(grid: (1, 1, 1), stream: stream, args: [.buffer(w["hist"]), .buffer(w["state"]), i32(shift)])
            }
            let countK = try moduleKernel("skeleton_budget_count", file: Self.maskSource, threads: 256, sharedBytes: 0)
            try countK.launch(grid: (g.queryBlocks, heads, 1), stream: stream, args: [
                .buffer(w["est"]), .buffer(w["rowStart"]), .buffer(w["state"]), .buffer(w["count"]), .buffer(w["ties"]), i32(n),
                i32(g.queryTile), i32(g.queryBlocks), i32(w.tilesPerHead), i32(sink), i32(local)])
            try scan.launch(grid: (1, 1, 1), stream: stream, args: [.buffer(w["ties"]), .buffer(w["tieOffset"]), i32(rows)])
            let addTies = try moduleKernel("skeleton_budget_add_ties", file: Self.maskSource, threads: 256, sharedBytes: 0)
            try addTies.launch(grid: ((rows + 255) / 256, 1, 1), stream: stream, args: [
                .buffer(w["count"]), .buffer(w["ties"]), .buffer(w["tieOffset"]), .buffer(w["state"]), i32(rows)])
            try scan.launch(grid: (1, 1, 1), stream: stream, args: [.buffer(w["count"]), .buffer(w["rowOffsets"]), i32(rows)])
            let fillB = try moduleKernel("skeleton_fill_budget", file: Self.maskSource, threads: 256, sharedBytes: 0)
            try fillB.launch(grid: (g.queryBlocks, heads, 1), stream: stream, args: [
                .buffer(w["est"]), .buffer(w["rowStart"]), .buffer(w["state"]), .buffer(w["tieOffset"]), .buffer(w["rowOffsets"]),
                .buffer(w["keyBlocks"]), i32(n), i32(g.queryTile), i32(g.queryBlocks), i32(w.tilesPerHead), i32(sink), i32(local)])
            try zero(w["eps"], value: .nan); try zero(w["recall"], value: .nan)
        case .timeBudget: fatalError("unreachable: tileTarget refuses time budgets")
        }
        try stage("mask (CSR)")
        let mask = try DeviceBlockMask(geometry: g, heads: heads, rowOffsets: w["rowOffsets"], keyBlocks: w["keyBlocks"])
        return Result(mask: mask, plan: plan, workspace: w)
    }
}
