import Foundation
import SparseSkeleton
import SparseSkeletonKernelParams

/// MInference's vertical-slash estimator on the GPU (Kernels/minference_estimator.cu): the same
/// function as the core's `MInferenceEstimator` (its settings are taken from `config`), computed
/// from device Q/K into a `DeviceBlockMask` built on the device. Nothing is read back to the host
/// between the scores and the mask, and nothing of size N² exists: probe work is
/// heads × L × N × d (L = `lastQueries` ≤ 64), buffers are O(heads × N) plus the CSR, whose
/// key-block buffer is sized for every causal tile (the worst case).
///
/// Targets: `.scale(α)` keeps round(α·verticalCount) columns and round(α·slashCount) diagonals
/// (α = 1: the defaults, 1000 / 6096 — the CPU's `masks(_:geometry:scales:)`); `.density(d)` is the
/// CPU's bisection over α (`TargetSearch.knobForDensity`, 16 steps) run on the device. As a
/// `DeviceMaskEstimator` ("minference") it takes `MaskTarget.density` only (see `target(for:)`).
///
/// The returned mask wraps the workspace's CSR buffers: it stays valid until the workspace is used
/// again. All work is queued on `stream` (asynchronous).
public final class GPUMInferenceEstimator: @unchecked Sendable {
    public enum Target: Hashable, Sendable {
        /// Counts scaled by α (1 = the default 1000 columns / 6096 diagonals).
        case scale(Double)
        /// Kept causal tiles / causal tiles of the layer ≈ d (bisection over α, as on the CPU).
        case density(Double)
    }

    /// One compiled variant of the kernel file: head dim and 16-bit type.
    public struct Variant: Hashable, Sendable, CustomStringConvertible {
        public let headDim: Int
        public let dtype: DType
        public init(headDim: Int, dtype: DType) throws {
            guard SkeletonError.supportedHeadDims.contains(headDim) else { throw SkeletonError.unsupportedHeadDim(headDim) }
            guard dtype != .f32 else { throw CUDAError.unsupported("the MInference estimator takes f16 or bf16 Q/K, not f32") }
            self.headDim = headDim; self.dtype = dtype
        }
        public var defines: [String: String] { ["SK_HEAD_DIM": "\(headDim)", "SK_BF16": dtype == .bf16 ? "1" : "0"] }
        public var description: String { "\(dtype.rawValue) d\(headDim)" }
        /// Every variant (CI compiles them all): bf16/fp16 × d 64/128/256.
        public static var all: [Variant] {
            [DType.bf16, .f16].flatMap { t in SkeletonError.supportedHeadDims.compactMap { try? Variant(headDim: $0, dtype: t) } }
        }
    }

    public static let sourceFile = "minference_estimator.cu"
    /// Kernel entries of the file with their block sizes (threads).
    public static let entries: [(name: String, threads: Int)] = [
        ("minf_probe_stats", probeThreads), ("minf_probe_scores", probeThreads), ("minf_lse", 256), ("minf_diag_combine", 256),
        ("minf_select", 1024), ("minf_diag_table", 256), ("minf_mask_rows", 256), ("minf_scan", 1024), ("minf_density_step", 32),
    ]
    static let probeThreads = 128
    /// Probe rows per head (the kernel's tile); `lastQueries` must not exceed it.
    public static let maxLastQueries = 64
    /// Keys per probe CTA (4 tiles of 64), the unit of the diagonal spill bookkeeping.
    public static let chunkKeys = 256
    /// Bisection steps of the density target (the CPU's TargetSearch call uses 16).
    public static let densityIterations = 16

    /// Dynamic shared memory of the probe kernels: Q and K tiles [64][d + 8] 16-bit, the
    /// probability tile [64][65] Float, the chunk's diagonal sums (256 + 64 Float).
    public static func probeSharedBytes(headDim d: Int) -> Int { 2 * 64 * (d + 8) * 2 + 64 * 65 * 4 + (chunkKeys + 64) * 4 }

    public let library: KernelLibrary
    public var device: GPUDevice { library.device }
    /// Counts, probe rows and forced entries (the CPU estimator's settings; defaults 64, 1000, 6096, 30, 100).
    public var config: MInferenceEstimator
    /// The workspace `estimateMask` reuses while shape and geometry stay the same.
    var cachedWorkspace: Workspace?
    /// Each variant's entries, looked up in the library once (an estimate launches ~40 kernels).
    private var kernelsByVariant: [Variant: [String: GPUKernel]] = [:]

    public init(library: KernelLibrary, config: MInferenceEstimator = MInferenceEstimator()) {
        self.library = library; self.config = config
    }

    /// Every entry of `variant`'s module (one compile, one load, shared through the library).
    public func kernels(_ variant: Variant) throws -> [String: GPUKernel] {
        if let k = kernelsByVariant[variant] { return k }
        let defines = variant.defines
        var out: [String: GPUKernel] = [:]
        for (name, threads) in Self.entries {
            let shared = name.hasPrefix("minf_probe") ? Self.probeSharedBytes(headDim: variant.headDim) : 0
            out[name] = try library.kernel(name, file: Self.sourceFile, defines: defines, threads: threads, sharedBytes: shared)
        }
        kernelsByVariant[variant] = out
        return out
    }

    /// Sizes of one estimation's device buffers (host-side arithmetic, unit-tested on the CPU).
    public struct Layout: Equatable, Sendable {
        public let tokens: Int, heads: Int
        public let chunks: Int
        public let tableGranule: Int, tableEntries: Int
        public let rows: Int
        public let maxKeptTiles: Int
        public init(shape: AttentionShape, geometry g: TileGeometry) throws {
            try g.requireTokens(of: shape)
            let n = shape.tokens
            tokens = n; heads = shape.queryHeads
            chunks = (n + GPUMInferenceEstimator.chunkKeys - 1) / GPUMInferenceEstimator.chunkKeys
            tableGranule = min(g.queryTile, g.keyTile)
            guard max(g.queryTile, g.keyTile) % tableGranule == 0 else {
                throw CUDAError.unsupported("tiles \(g.queryTile)x\(g.keyTile): one must divide the other")
            }
            tableEntries = (n + g.queryTile) / tableGranule + 1
            rows = heads * g.queryBlocks
            maxKeptTiles = heads * g.causalTilesPerHead
            guard maxKeptTiles <= Int(Int32.max), heads * (n + 1) <= Int(Int32.max) else {
                throw CUDAError.unsupported("\(heads) heads × N = \(n): the Int32 CSR cannot index \(maxKeptTiles) tiles")
            }
        }
    }

    /// Every device buffer one estimation uses; reusable across calls of the same shape/geometry.
    public final class Workspace: @unchecked Sendable {
        public let shape: AttentionShape
        public let geometry: TileGeometry
        public let layout: Layout
        /// Column scores [heads][N] and diagonal scores [heads][N] (δ = i − j), Float.
        public let columnScores: DeviceBuffer, diagonalScores: DeviceBuffer
        let partials, lse2, spill, columnBlocks, diagonalPrefix, diagonalTable, counts, state: DeviceBuffer
        public let rowOffsets: DeviceBuffer, keyBlocks: DeviceBuffer

        init(device: GPUDevice, shape: AttentionShape, geometry: TileGeometry) throws {
            let l = try Layout(shape: shape, geometry: geometry)
            self.shape = shape; self.geometry = geometry; layout = l
            let h = l.heads, n = l.tokens
            func buf(_ bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: device, byteCount: bytes) }
            partials = try buf(h * GPUMInferenceEstimator.maxLastQueries * l.chunks * 8)
            lse2 = try buf(h * GPUMInferenceEstimator.maxLastQueries * 4)
            columnScores = try buf(h * n * 4)
            diagonalScores = try buf(h * n * 4)
            spill = try buf(h * l.chunks * 64 * 4)
            columnBlocks = try buf(h * geometry.keyBlocks * 4)
            diagonalPrefix = try buf(h * (n + 1) * 4)
            diagonalTable = try buf(h * l.tableEntries * 4)
            counts = try buf(l.rows * 4)
            state = try buf(MemoryLayout<SKMInferenceDensityState>.stride)
            rowOffsets = try buf((l.rows + 1) * 4)
            keyBlocks = try buf(max(l.maxKeptTiles, 1) * 4)
        }

        /// Fills every buffer with 0xFF bytes (NaN scores, −1 indices): a check that all is written.
        public func poison() throws {
            for b in [columnScores, diagonalScores, partials, lse2, spill, columnBlocks, diagonalPrefix, diagonalTable, counts, rowOffsets, keyBlocks] {
                try b.fill8(0xFF)
            }
        }

        /// The α the density search chose (reads the search state back; for reports, after the stream is synchronized).
        public func chosenScale() throws -> Double {
            try state.download(SKMInferenceDensityState.self, count: 1)[0].alpha
        }
    }

    public func makeWorkspace(shape: AttentionShape, geometry: TileGeometry) throws -> Workspace {
        try Workspace(device: device, shape: shape, geometry: geometry)
    }

    /// Counts for a scale α, exactly as the CPU rounds them.
    public static func counts(scale a: Double, config c: MInferenceEstimator) -> (columns: Int, diagonals: Int) {
        (Int((a * Double(c.verticalCount)).rounded()), Int((a * Double(c.slashCount)).rounded()))
    }

    /// The CPU's upper bracket of the density bisection: N / min(counts) + 1.
    public static func densityUpperScale(tokens: Int, config c: MInferenceEstimator) -> Double {
        Double(tokens) / Double(min(c.verticalCount, c.slashCount)) + 1
    }

    /// Estimates the mask of one layer from device Q [N, qHeads, d] and K [N, kvHeads, d] (16-bit,
    /// `dtype`). Queues everything on `stream`; the mask is ready when the stream reaches this point.
    /// `spec`: causal, no window or softcap; its scale (default 1/√d) scales the probe's logits.
    public func estimate(shape: AttentionShape, dtype: DType, q: DeviceBuffer, k: DeviceBuffer, spec: AttentionSpec = .causal,
                         target: Target = .scale(1), workspace w: Workspace, stream: GPUStream) throws -> DeviceBlockMask {
        let c = config
        let scaleLog2 = try Self.scaleLog2(spec: spec, headDim: shape.headDim)
        guard w.shape == shape else { throw SkeletonError.shapeMismatch("workspace is for \(w.shape), inputs are \(shape)") }
        guard (1...Self.maxLastQueries).contains(c.lastQueries) else {
            throw CUDAError.unsupported("lastQueries \(c.lastQueries): the GPU estimator takes 1...\(Self.maxLastQueries)")
        }
        guard c.verticalCount > 0, c.slashCount > 0, c.forcedColumns >= 0, c.forcedDiagonals >= 0 else {
            throw SkeletonError.invalidArgument("MInference counts must be positive")
        }
        let n = shape.tokens, e = dtype.byteSize
        guard q.byteCount >= n * shape.queryHeads * shape.headDim * e, k.byteCount >= n * shape.kvHeads * shape.headDim * e else {
            throw SkeletonError.shapeMismatch("Q/K buffers are smaller than \(shape) needs")
        }
        let kern = try kernels(try Variant(headDim: shape.headDim, dtype: dtype))
        func K(_ name: String) -> GPUKernel { kern[name]! }
        let l = w.layout, g = w.geometry
        let heads = Int32(shape.queryHeads), n32 = Int32(n), chunks = Int32(l.chunks)
        let probeRows = shape.queryHeads * Self.maxLastQueries
        let probe = SKMInferenceProbeInputs(q: q.pointer, k: k.pointer, tokens: n32, queryHeads: heads, kvHeads: Int32(shape.kvHeads),
                                            lastRows: Int32(min(c.lastQueries, n)), scaleLog2: scaleLog2, chunks: chunks)

        try K("minf_probe_stats").launch(grid: (l.chunks, shape.kvHeads, 1), stream: stream, params: SKMInferenceProbeStatsParams(
            probe: probe, partials: w.partials.pointer))
        try K("minf_lse").launch(grid: ((probeRows * 32 + 255) / 256, 1, 1), stream: stream, params: SKMInferenceLseParams(
            partials: w.partials.pointer, lse2: w.lse2.pointer, chunks: chunks, rows: Int32(probeRows)))
        try K("minf_probe_scores").launch(grid: (l.chunks, shape.kvHeads, 1), stream: stream, params: SKMInferenceProbeScoresParams(
            probe: probe, lse2: w.lse2.pointer, columnScores: w.columnScores.pointer, diagonalScores: w.diagonalScores.pointer,
            spill: w.spill.pointer))
        try K("minf_diag_combine").launch(grid: ((n + 255) / 256, shape.queryHeads, 1), stream: stream, params: SKMInferenceDiagCombineParams(
            diagonalScores: w.diagonalScores.pointer, spill: w.spill.pointer, tokens: n32, chunks: chunks))

        /// `density`: the search state's address, or 0 (null in the kernels) for fixed counts.
        func select(counts: (Int, Int), density: UInt64, evalOnly: Bool) throws {
            try K("minf_select").launch(grid: (shape.queryHeads, 2, 1), stream: stream, params: SKMInferenceSelectParams(
                columnScores: w.columnScores.pointer, diagonalScores: w.diagonalScores.pointer, density: density,
                columnBlocks: w.columnBlocks.pointer, diagonalPrefix: w.diagonalPrefix.pointer, tokens: n32,
                kColumns: Int32(clamping: counts.0), kDiagonals: Int32(clamping: counts.1),
                forcedColumns: Int32(clamping: c.forcedColumns), forcedDiagonals: Int32(clamping: c.forcedDiagonals),
                evalOnly: evalOnly ? 1 : 0, keyTile: Int32(g.keyTile), keyBlocks: Int32(g.keyBlocks)))
        }
        func build(density: UInt64, write: Bool) throws {
            try K("minf_diag_table").launch(grid: ((l.tableEntries + 255) / 256, shape.queryHeads, 1), stream: stream, params: SKMInferenceDiagTableParams(
                diagonalPrefix: w.diagonalPrefix.pointer, density: density, table: w.diagonalTable.pointer, tokens: n32,
                queryTile: Int32(g.queryTile), keyTile: Int32(g.keyTile), granule: Int32(l.tableGranule), entries: Int32(l.tableEntries)))
            func rowsPass(rowOffsets: UInt64, keyBlockIndices: UInt64) throws {
                try K("minf_mask_rows").launch(grid: ((l.rows * 32 + 255) / 256, 1, 1), stream: stream, params: SKMInferenceMaskRowsParams(
                    columnBlocks: w.columnBlocks.pointer, table: w.diagonalTable.pointer, diagonalPrefix: w.diagonalPrefix.pointer,
                    density: density, counts: w.counts.pointer, rowOffsets: rowOffsets, keyBlockIndices: keyBlockIndices,
                    tokens: n32, heads: heads, queryTile: Int32(g.queryTile), keyTile: Int32(g.keyTile), granule: Int32(l.tableGranule),
                    entries: Int32(l.tableEntries), keyBlocks: Int32(g.keyBlocks), queryBlocks: Int32(g.queryBlocks)))
            }
            try rowsPass(rowOffsets: 0, keyBlockIndices: 0)
            try K("minf_scan").launch(grid: (1, 1, 1), stream: stream, params: SKMInferenceScanParams(
                counts: w.counts.pointer, density: density, rowOffsets: w.rowOffsets.pointer, rows: Int32(l.rows)))
            if write { try rowsPass(rowOffsets: w.rowOffsets.pointer, keyBlockIndices: w.keyBlocks.pointer) }
        }

        switch target {
        case .scale(let a):
            guard a >= 0, a.isFinite else { throw SkeletonError.invalidArgument("count scale must be ≥ 0, got \(a)") }
            try select(counts: Self.counts(scale: a, config: c), density: 0, evalOnly: false)
        case .density(let d):
            _ = try MaskTarget.density(d).validated()
            let state = w.state.pointer
            func step(initialize: Bool, lo: Double = 0, hi: Double = 0, target: Double = 0, causal: Double = 0) throws {
                try K("minf_density_step").launch(grid: (1, 1, 1), stream: stream, params: SKMInferenceDensityStepParams(
                    state: state, rowOffsets: w.rowOffsets.pointer, lo: lo, hi: hi, target: target, causal: causal,
                    rows: Int32(l.rows), verticalCount: Int32(c.verticalCount), slashCount: Int32(c.slashCount),
                    initialize: initialize ? 1 : 0, iterations: Int32(Self.densityIterations)))
            }
            try step(initialize: true, lo: 0, hi: Self.densityUpperScale(tokens: n, config: c), target: d, causal: Double(l.maxKeptTiles))
            for _ in 0..<(Self.densityIterations + 2) {  // hi, lo, then the bisection steps; finished steps skip
                try select(counts: (0, 0), density: state, evalOnly: true)
                try build(density: state, write: false)
                try step(initialize: false)
            }
            try select(counts: (0, 0), density: state, evalOnly: false)
        }
        try build(density: 0, write: true)
        return try DeviceBlockMask(geometry: g, heads: shape.queryHeads, rowOffsets: w.rowOffsets, keyBlocks: w.keyBlocks)
    }

    /// The same with a fresh workspace (allocates; for one-off calls, not for timing loops).
    public func estimate(shape: AttentionShape, dtype: DType, q: DeviceBuffer, k: DeviceBuffer, geometry: TileGeometry,
                         spec: AttentionSpec = .causal, target: Target = .scale(1), stream: GPUStream) throws -> DeviceBlockMask {
        let w = try makeWorkspace(shape: shape, geometry: geometry)
        return try estimate(shape: shape, dtype: dtype, q: q, k: k, spec: spec, target: target, workspace: w, stream: stream)
    }
}
