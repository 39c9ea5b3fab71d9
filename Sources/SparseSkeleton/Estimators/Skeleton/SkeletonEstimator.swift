import Foundation

/// The skeleton estimator (docs/METHOD.md): per query head, A[i, j] ≈ h[i] · v[j] · s[i − j] fitted from
/// exact probe rows, turned into per-tile masses, then thresholded.
///
/// Steps per head (choices the abstract leaves open are ours, made by measurement — docs/METHOD.md):
/// 1. **Probes** (`ProbeSet`): the last `lastRows` rows + one fit row per probe stride (`SkeletonParameters.stride(tokens:)`)
///    rows, and a disjoint held-out check row per stride. Exact softmax rows, O(P·N·d).
/// 2. **Factors** v, s by mass-matching IPF on the fit rows (`SkeletonFactors.fit`); h is the row
///    normaliser (block granularity: each query block's modelled masses are normalised to 1).
/// 3. **Tile masses** m̂_skel[I, J] from v and s exactly at tile granularity (prefix sums of s).
/// 4. **Local blend**: where a query block holds fit probes, their exact tile masses m_probe[I, ·]
///    are a direct (content-aware) sample of the block's own attention; the estimate is
///    m̂ = (1 − α) m̂_skel + α m_probe (both normalised per block); α = `localWeight`.
/// 5. **Threshold**: `.density(d)` → one global τ over the heads (`BudgetThreshold`);
///    `.errorBound(ε)` → per-head **calibration**: the internal ε' is the largest value whose mask
///    passes a lower confidence bound on the held-out check probes' true recall,
///    mean − z·sd/√n ≥ 1 − ε + `calibrationMargin` (z = `confidenceZ`; the probes are exact, so this
///    checks the promise on real rows while the mask is built), then `ErrorBoundThreshold`.
/// Defaults (α = 0.75, stride 32, z = 1.645) were chosen on SmolLM2's real attention (METHOD.md).
/// 6. Optionally the union over each KV group (`shareGroupMask`), so a K/V tile is loaded once.
/// Sink block(s) and the local band are always kept (`alwaysKeep`).
public struct SkeletonEstimator: MaskEstimator {
    public var parameters: SkeletonParameters
    public var name: String { "skeleton" }

    public init(parameters: SkeletonParameters = SkeletonParameters()) { self.parameters = parameters }

    public func estimate(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec,
                         target: MaskTarget) throws -> MaskEstimate {
        try estimateWithMasses(inputs, geometry: geometry, spec: spec, target: target).estimate
    }

    /// `estimate` and the estimated tile masses it thresholded (for the mean correction of the dropped tiles).
    public func estimateWithMasses(_ inputs: AttentionInputs, geometry: TileGeometry, spec: AttentionSpec = .causal,
                                   target: MaskTarget) throws -> (estimate: MaskEstimate, masses: TileMasses) {
        let spec = try spec.checked(for: "the CPU skeleton estimator")
        let target = try target.tileTarget(estimator: "the CPU skeleton estimator")
        let (masses, fits) = try masses(inputs, geometry: geometry, spec: spec)
        var result: MaskEstimate
        switch target {
        case .density(let d):
            result = try BudgetThreshold.mask(masses, density: d, alwaysKeep: parameters.alwaysKeep, spec: spec)
        case .errorBound(let e):
            result = try errorBoundMask(masses: masses, fits: fits, epsilon: e, spec: spec)
        case .timeBudget: fatalError("unreachable: tileTarget refuses time budgets")
        }
        if parameters.shareGroupMask, inputs.shape.groupSize > 1 {
            result = MaskEstimate(mask: try result.mask.unionPerGroup(groupSize: inputs.shape.groupSize),
                                  estimatedRecall: result.estimatedRecall)
        }
        return (result, masses)
    }

    /// The estimated tile masses of every head (normalised per query block) and the head fits.
    public func masses(_ inputs: AttentionInputs, geometry: TileGeometry,
                       spec: AttentionSpec = .causal) throws -> (TileMasses, [SkeletonHeadFit]) {
        let fits = try fitHeads(inputs, geometry: geometry, spec: spec)
        var masses = try TileMasses(geometry: geometry, heads: inputs.shape.queryHeads)
        for (h, f) in fits.enumerated() {
            let base = h * masses.tilesPerHead
            for t in 0..<masses.tilesPerHead { masses.values[base + t] = f.tileEstimate[t] }
        }
        return (masses, fits)
    }

    /// Error-bound mask from already-fitted heads (calibrated per head when `calibrate`).
    public func errorBoundMask(masses: TileMasses, fits: [SkeletonHeadFit], epsilon e: Double,
                               spec: AttentionSpec = .causal) throws -> MaskEstimate {
        var eps = [Double](repeating: e, count: fits.count)
        var recall = [Double](repeating: 0, count: fits.count)
        for (h, f) in fits.enumerated() { (eps[h], recall[h]) = calibratedEpsilon(f, masses: masses, head: h, epsilon: e, spec: spec) }
        let m = try ErrorBoundThreshold.mask(masses, epsilons: eps, alwaysKeep: parameters.alwaysKeep, spec: spec)
        return MaskEstimate(mask: m.mask, estimatedRecall: parameters.calibrate ? recall : m.estimatedRecall)
    }

    /// Fits every head (public for plots and tests).
    public func fitHeads(_ x: AttentionInputs, geometry g: TileGeometry, spec: AttentionSpec = .causal) throws -> [SkeletonHeadFit] {
        try g.requireTokens(of: x.shape)
        let n = g.tokens
        try parameters.validate(tokens: n)
        let p = parameters, stride = p.stride(tokens: n)
        let probes = ProbeSet(tokens: n, lastRows: p.lastRows, stride: stride, fitOffset: stride / 2, checkOffset: -1)
        var scratch = try TileMasses(geometry: g, heads: 1)
        var fits: [SkeletonHeadFit] = []
        for h in 0..<x.shape.queryHeads {
            let fitP = try ExactRows.probabilities(x, head: h, rows: probes.fitRows, spec: spec)
            let factors = SkeletonFactors.fit(probs: fitP.p, width: fitP.width, rows: probes.fitRows, tokens: n, sweeps: p.fitSweeps)
            factors.tileMasses(into: &scratch, head: 0)
            var est = scratch.normalisedPerQueryBlock(spec: spec)
            if p.ratioPower > 0 {
                correctByProbes(&est, factors: factors, probs: fitP.p, width: fitP.width, rows: probes.fitRows)
                est = est.normalisedPerQueryBlock(spec: spec)
            }
            if p.localWeight > 0 { blendLocal(&est, probs: fitP.p, width: fitP.width, rows: probes.fitRows) }
            let checkP = try ExactRows.probabilities(x, head: h, rows: probes.checkRows, spec: spec)
            var checkMass: [[Double]] = []
            for (ci, r) in probes.checkRows.enumerated() {
                checkMass.append(Self.rowTileMass(checkP.p, offset: ci * checkP.width, row: r, geometry: g))
            }
            fits.append(SkeletonHeadFit(vertical: factors.v, slash: factors.s, checkRows: probes.checkRows,
                                        checkTileMass: checkMass, tileEstimate: est.values))
        }
        return fits
    }

    /// Mass of one exact row per causal key block of its query block.
    static func rowTileMass(_ p: [Float], offset: Int, row r: Int, geometry g: TileGeometry) -> [Double] {
        let qb = r / g.queryTile
        var out = [Double](repeating: 0, count: g.lastCausalKeyBlock(qb) + 1)
        for j in 0...r { out[j / g.keyTile] += Double(p[offset + j]) }
        return out
    }

    /// Content correction from a block's own probe rows: the model predicts each probe row's tile
    /// masses pred_r(J) = h_r Σ_{j∈J, j≤r} v_j s_{r−j}; the exact row gives obs_r(J). Their ratio is
    /// what the separable model misses for this block (content), so
    ///     m̂[I, J] ← m̂[I, J] · ((obs + λ) / (pred + λ))^γ,
    /// averaged in log space over the block's probes; λ = `ratioFloor` / (causal key blocks of I)
    /// keeps tiny, noisy tiles from swinging. Unlike the linear blend, the model still supplies the
    /// block's geometry (e.g. the part of the diagonal tile the mid-block probe row cannot see).
    func correctByProbes(_ est: inout TileMasses, factors: SkeletonFactors, probs: [Float], width: Int, rows: [Int]) {
        let g = est.geometry
        var byBlock: [Int: [Int]] = [:]
        for (pi, r) in rows.enumerated() { byBlock[r / g.queryTile, default: []].append(pi) }
        for (qb, list) in byBlock {
            let len = est.rowLength(qb)
            let lambda = parameters.ratioFloor / Double(len)
            var logRatio = [Double](repeating: 0, count: len)
            for pi in list {
                let r = rows[pi]
                let obs = Self.rowTileMass(probs, offset: pi * width, row: r, geometry: g)
                var pred = [Double](repeating: 0, count: len)
                var z = 0.0
                for j in 0...r { let t = factors.v[j] * factors.s[r - j]; pred[j / g.keyTile] += t; z += t }
                for b in 0..<len {
                    let p = z > 0 ? pred[b] / z : 0
                    logRatio[b] += log((obs[b] + lambda) / (p + lambda)) / Double(list.count)
                }
            }
            let rr = est.rowRange(head: 0, queryBlock: qb)
            for b in 0..<len { est.values[rr.lowerBound + b] *= exp(parameters.ratioPower * logRatio[b]) }
        }
    }

    /// m̂ ← (1 − α) m̂ + α · (mean exact tile masses of the block's fit probes), per block with probes.
    func blendLocal(_ est: inout TileMasses, probs: [Float], width: Int, rows: [Int]) {
        let g = est.geometry
        var byBlock: [Int: [Int]] = [:]
        for (pi, r) in rows.enumerated() { byBlock[r / g.queryTile, default: []].append(pi) }
        for (qb, list) in byBlock {
            var local = [Double](repeating: 0, count: est.rowLength(qb))
            for pi in list {
                let m = Self.rowTileMass(probs, offset: pi * width, row: rows[pi], geometry: g)
                for (b, x) in m.enumerated() { local[b] += x / Double(list.count) }
            }
            let r = est.rowRange(head: 0, queryBlock: qb)
            for (b, x) in local.enumerated() {
                let a = parameters.localWeight
                est.values[r.lowerBound + b] = (1 - a) * est.values[r.lowerBound + b] + a * x
            }
        }
    }

    /// The per-head internal ε': the largest value (bisection on log ε' over [ε/256, min(0.9, 4ε)])
    /// whose mask passes the held-out check probes' exact mass with a one-sided lower confidence
    /// bound: mean − z · sd / √n ≥ 1 − ε + margin, with n check rows, their per-row recalls' mean and
    /// standard deviation, z = `confidenceZ` (1.645 ≈ 95 %). The bound is what makes the promise hold
    /// per head and not just on average over heads. With `tailQuantile` q the mask must also keep
    /// ≥ 1 − `tailScale` · ε on all but ⌊q · n⌋ check rows (each row's recall only falls as ε' grows,
    /// so the test stays monotone). Returns (ε', the probe mean recall at ε').
    func calibratedEpsilon(_ f: SkeletonHeadFit, masses: TileMasses, head: Int, epsilon: Double,
                           spec: AttentionSpec = .causal) -> (Double, Double) {
        guard parameters.calibrate, !f.checkRows.isEmpty else { return (epsilon, 1 - epsilon) }
        let g = masses.geometry
        let norm = masses.normalisedPerQueryBlock(spec: spec)
        let n = Double(f.checkRows.count)
        let tailFloor = 1 - parameters.tailScale * epsilon
        let tailAllowed = parameters.tailQuantile.map { Int(($0 * n).rounded(.down)) }
        let goal = min(1, 1 - epsilon + parameters.calibrationMargin)
        func probeRecall(_ e: Double) -> (mean: Double, passes: Bool) {
            var sum = 0.0, sum2 = 0.0
            var below = 0
            var cache: [Int: [Int32]] = [:]
            for (ci, r) in f.checkRows.enumerated() {
                let qb = r / g.queryTile
                let row = cache[qb] ?? ErrorBoundThreshold.keepRow(norm, head: head, queryBlock: qb, epsilon: e, alwaysKeep: parameters.alwaysKeep, spec: spec).0
                cache[qb] = row
                var t = 0.0
                for b in row { t += f.checkTileMass[ci][Int(b)] }
                sum += t; sum2 += t * t
                if t < tailFloor { below += 1 }
            }
            let mean = sum / n
            let sd = n > 1 ? max(0, (sum2 - n * mean * mean) / (n - 1)).squareRoot() : 0
            let bound = mean - parameters.confidenceZ * sd / n.squareRoot()
            return (mean, bound >= goal && (tailAllowed.map { below <= $0 } ?? true))
        }
        // Both tests fail monotonically as ε' grows (kept sets are prefixes): bisect on log ε'.
        var lo = log(max(epsilon / 256, 1e-6)), hi = log(min(0.9, 4 * epsilon))
        let top = probeRecall(exp(hi))
        if top.passes { return (exp(hi), top.mean) }
        if !probeRecall(exp(lo)).passes { return (exp(lo), probeRecall(exp(lo)).mean) }
        for _ in 0..<12 {
            let mid = (lo + hi) / 2
            if probeRecall(exp(mid)).passes { lo = mid } else { hi = mid }
        }
        return (exp(lo), probeRecall(exp(lo)).mean)
    }
}
