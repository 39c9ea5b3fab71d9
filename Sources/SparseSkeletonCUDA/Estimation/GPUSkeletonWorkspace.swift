import SparseSkeleton

/// The GPU skeleton estimator's device arrays for one (geometry, shape, stride, last rows),
/// reused across estimates: the plan's index arrays (uploaded once) and every stage's outputs.
/// The mask an estimate returns lives in `rowOffsets` / `keyBlocks`, valid until the next
/// estimate of the same shape. Layouts: sk_skeleton_params.h.
final class GPUSkeletonWorkspace {
    let key: String
    let plan: SkeletonProbePlan
    let heads: Int
    /// Tiles of one head in TileMasses order (causal tiles).
    let tilesPerHead: Int
    /// Entries of one head's checkCum: Σ over check rows of their block's row length.
    let checkPerHead: Int
    /// Fit rows per head (strided + tail) in z and h.
    let fitRowStride: Int

    // the plan, uploaded
    let groupRows: DeviceBuffer          // [probes] Int32
    let rowStart: DeviceBuffer           // [queryBlocks + 1] Int32
    let blockProbeStart: DeviceBuffer    // [queryBlocks + 1] Int32
    let blockProbeIndex: DeviceBuffer    // Int32
    let blockProbeRow: DeviceBuffer      // Int32
    let checkRow: DeviceBuffer           // [checks] Int32
    let checkProbe: DeviceBuffer         // [checks] Int32
    let checkStart: DeviceBuffer         // [checks] Int64

    // probes
    let tileLse2: DeviceBuffer           // [heads][probes][keyTiles]
    let rowLse2: DeviceBuffer            // [heads][probes]
    let colObs: DeviceBuffer             // [heads][N]
    let diagObs: DeviceBuffer            // [heads][N]
    // factor fit
    let v: DeviceBuffer                  // [heads][N]
    let s: DeviceBuffer                  // [heads][N]
    let den: DeviceBuffer                // [heads][N]; after the fit: the window sums of s
    let denTail: DeviceBuffer            // [heads][N]: the tail rows' part of den in each IPF step
    let fitBarrier: DeviceBuffer         // one u32: skeleton_ipf_fit's grid-barrier counter
    let z: DeviceBuffer                  // [heads][fitRowStride]
    let h: DeviceBuffer                  // [heads][fitRowStride]
    let prefix: DeviceBuffer             // [heads][N + 1] Double
    // tile masses and the mask
    let est: DeviceBuffer                // [heads][tilesPerHead]
    let cum: DeviceBuffer                // [heads][tilesPerHead]
    let sorted: DeviceBuffer             // [heads][tilesPerHead] Int32
    let checkCum: DeviceBuffer           // [heads][checkPerHead]
    let epsilon: DeviceBuffer            // [heads]
    let recall: DeviceBuffer             // [heads]
    let count: DeviceBuffer              // [rows] Int32
    let ties: DeviceBuffer               // [rows] Int32
    let tieOffset: DeviceBuffer          // [rows + 1] Int32
    let rowOffsets: DeviceBuffer         // [rows + 1] Int32
    let keyBlocks: DeviceBuffer          // [heads · tilesPerHead] Int32
    let budgetState: DeviceBuffer        // 4 Int32
    let budgetHistogram: DeviceBuffer    // 256 UInt32

    init(device: GPUDevice, key: String, plan: SkeletonProbePlan, shape: AttentionShape, geometry g: TileGeometry) throws {
        let masses = try TileMasses(geometry: g, heads: 1)
        let rowStartValues = masses.rowStart.map { Int32($0) }
        let n = g.tokens, heads = shape.queryHeads, keyTiles = (n + 63) / 64
        var checkStartValues: [Int64] = []
        var total = 0
        for r in plan.checkRows { checkStartValues.append(Int64(total)); total += masses.rowLength(r / g.queryTile) }
        let fitRowStride = plan.stridedFitRows + plan.tailRows
        let blocks = plan.fitProbesByBlock(queryTile: g.queryTile)
        let tiles = masses.tilesPerHead, rows = heads * g.queryBlocks
        self.key = key; self.plan = plan; self.heads = heads; self.tilesPerHead = tiles
        self.checkPerHead = total; self.fitRowStride = fitRowStride

        func alloc(_ bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: device, byteCount: max(bytes, 4)) }
        groupRows = try alloc(plan.groupRows.count * 4)
        tileLse2 = try alloc(heads * plan.probes * keyTiles * 4)
        rowLse2 = try alloc(heads * plan.probes * 4)
        v = try alloc(heads * n * 4); s = try alloc(heads * n * 4)
        colObs = try alloc(heads * n * 4); diagObs = try alloc(heads * n * 4); den = try alloc(heads * n * 4)
        denTail = try alloc(heads * n * 4)
        fitBarrier = try alloc(256)
        z = try alloc(heads * fitRowStride * 4); h = try alloc(heads * fitRowStride * 4)
        prefix = try alloc(heads * (n + 1) * 8)
        rowStart = try alloc(rowStartValues.count * 4)
        blockProbeStart = try alloc(blocks.blockStart.count * 4)
        blockProbeIndex = try alloc(blocks.probe.count * 4)
        blockProbeRow = try alloc(blocks.row.count * 4)
        est = try alloc(heads * tiles * 4); cum = try alloc(heads * tiles * 4); sorted = try alloc(heads * tiles * 4)
        checkRow = try alloc(plan.checkRows.count * 4); checkProbe = try alloc(plan.checkRows.count * 4)
        checkStart = try alloc(plan.checkRows.count * 8); checkCum = try alloc(heads * total * 4)
        epsilon = try alloc(heads * 4); recall = try alloc(heads * 4)
        count = try alloc(rows * 4); ties = try alloc(rows * 4); tieOffset = try alloc((rows + 1) * 4)
        rowOffsets = try alloc((rows + 1) * 4); keyBlocks = try alloc(heads * tiles * 4)
        budgetState = try alloc(16); budgetHistogram = try alloc(256 * 4)

        try groupRows.upload(plan.groupRows)
        try rowStart.upload(rowStartValues)
        try blockProbeStart.upload(blocks.blockStart); try blockProbeIndex.upload(blocks.probe); try blockProbeRow.upload(blocks.row)
        try checkRow.upload(plan.checkRows.map { Int32($0) }); try checkProbe.upload(plan.checkProbeIndex)
        try checkStart.upload(checkStartValues)
    }

    /// Every array an estimate writes (everything but the uploaded plan).
    var outputs: [DeviceBuffer] {
        [tileLse2, rowLse2, colObs, diagObs, v, s, den, denTail, fitBarrier, z, h, prefix, est, cum, sorted, checkCum, epsilon, recall,
         count, ties, tieOffset, rowOffsets, keyBlocks, budgetState, budgetHistogram]
    }
}
