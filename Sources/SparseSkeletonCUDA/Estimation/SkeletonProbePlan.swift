import SparseSkeleton

/// Which rows the GPU skeleton estimator computes exactly, and how they are grouped for the
/// probe kernel — the same rows as the core's `ProbeSet` (so the CPU `SkeletonEstimator` with the
/// same `SkeletonParameters` is the GPU estimator's reference), laid out for the GPU:
///
/// - groups of 64 rows of one kind (strided fit rows, the tail rows, check rows), padded with −1,
///   so a group's rows span at most 63 · stride (the probe kernel's diagonal ring needs a bound);
/// - a probe's index is its position in `groupRows`; fit groups come first.
///
/// The stride comes from `SkeletonParameters.stride(tokens:)`.
public struct SkeletonProbePlan: Sendable, Equatable {
    public static let groupSize = 64

    public let tokens: Int
    public let stride: Int
    /// Offset of the strided fit rows inside each stride window (r_w = offset + stride · w).
    public let offset: Int
    /// Strided fit rows (W) and contiguous tail rows (T, the last rows of the sequence).
    public let stridedFitRows: Int
    public let tailRows: Int
    public let fitRows: [Int]
    public let checkRows: [Int]
    /// Padded rows, 64 per group: strided fit groups, tail group(s), check groups.
    public let groupRows: [Int32]
    public let fitGroups: Int
    /// The first `stridedFitGroups` groups hold the strided fit rows; then the tail group(s).
    public var stridedFitGroups: Int { (stridedFitRows + Self.groupSize - 1) / Self.groupSize }
    public var groups: Int { groupRows.count / Self.groupSize }
    public var probes: Int { groupRows.count }
    /// Probe index of each fit row (fitRows order) and each check row (checkRows order).
    public let fitProbeIndex: [Int32]
    public let checkProbeIndex: [Int32]
    /// Largest row span inside one fit group (the pass-2 ring must exceed it by 128).
    public let maxFitSpan: Int

    public init(tokens n: Int, lastRows: Int, stride: Int) throws {
        guard n > 0 else { throw SkeletonError.emptySequence("the skeleton probe plan") }
        guard stride >= 2, lastRows >= 1, lastRows <= Self.groupSize else {
            throw SkeletonError.invalidArgument("GPU skeleton probes need stride ≥ 2 and 1 ≤ lastRows ≤ 64 (got \(stride), \(lastRows))")
        }
        let set = ProbeSet(tokens: n, lastRows: lastRows, stride: stride, fitOffset: stride / 2, checkOffset: -1)
        let tail = max(0, n - lastRows)
        let strided = set.fitRows.filter { $0 < tail }
        let tailRows = set.fitRows.filter { $0 >= tail }
        let off = min(stride / 2, stride - 1)
        for (w, r) in strided.enumerated() where r != off + stride * w {
            throw SkeletonError.invalidArgument("internal: strided fit row \(r) is not \(off) + \(stride)·\(w)")
        }
        var rows: [Int32] = []
        var fitIndex: [Int32] = [], checkIndex: [Int32] = []
        var span = 0
        func addGroups(_ list: [Int], into index: inout [Int32]) {
            var i = 0
            while i < list.count {
                let chunk = list[i..<min(list.count, i + Self.groupSize)]
                span = max(span, chunk.last! - chunk.first!)
                for r in chunk { index.append(Int32(rows.count)); rows.append(Int32(r)) }
                while rows.count % Self.groupSize != 0 { rows.append(-1) }
                i += Self.groupSize
            }
        }
        addGroups(strided, into: &fitIndex)
        addGroups(tailRows, into: &fitIndex)
        let fitGroupCount = rows.count / Self.groupSize
        let fitSpan = span
        addGroups(set.checkRows, into: &checkIndex)
        tokens = n; self.stride = stride; offset = off
        stridedFitRows = strided.count; self.tailRows = tailRows.count
        fitRows = strided + tailRows; checkRows = set.checkRows
        groupRows = rows; fitGroups = fitGroupCount
        fitProbeIndex = fitIndex; checkProbeIndex = checkIndex
        maxFitSpan = fitSpan
    }

    /// Power-of-two ring size of the probe kernel's diagonal sums (≥ span + 128).
    public var diagonalRing: Int {
        var w = 128
        while w < maxFitSpan + 128 { w *= 2 }
        return w
    }

    /// Fit probes of each query block, as CSR over (probe index, row): block I's probes are
    /// entries blockStart[I]..<blockStart[I + 1].
    public func fitProbesByBlock(queryTile: Int) -> (blockStart: [Int32], probe: [Int32], row: [Int32]) {
        let blocks = (tokens + queryTile - 1) / queryTile
        var start = [Int32](repeating: 0, count: blocks + 1)
        var probe: [Int32] = [], row: [Int32] = []
        var i = 0
        let order = fitRows.indices.sorted { fitRows[$0] < fitRows[$1] }
        for b in 0..<blocks {
            start[b] = Int32(probe.count)
            while i < order.count, fitRows[order[i]] < (b + 1) * queryTile {
                probe.append(fitProbeIndex[order[i]]); row.append(Int32(fitRows[order[i]])); i += 1
            }
        }
        start[blocks] = Int32(probe.count)
        return (start, probe, row)
    }
}
