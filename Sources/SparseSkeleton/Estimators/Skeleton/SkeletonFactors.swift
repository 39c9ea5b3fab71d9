import Foundation

/// The three skeleton vectors of one head, log A[i, j] ≈ H[i] + V[j] + D[i − j], stored in the
/// linear domain: v[j] = exp V[j] (vertical, per key), s[δ] = exp D[δ] (slash, per offset δ = i − j),
/// and h[i] = 1 / Σ_{j ≤ i} v[j] s[i − j] (horizontal: the row normaliser, so every modelled row
/// sums to 1). O(N) memory.
///
/// **Fit (our choice where the abstract is silent).** The probe rows r ∈ P are exact. We fit v and
/// s by maximum likelihood of the log-linear model p_r[j] ∝ v[j] s[r − j] under a Poisson reading of
/// the probe mass — the fit that matches the model's column sums and diagonal sums over the probes
/// to the observed ones (iterative proportional fitting, each sweep O(|P| · N)):
///
///     h_r ← 1 / Σ_{j≤r} v_j s_{r−j}
///     s_δ ← Σ_r p_r[r−δ] / Σ_r h_r v_{r−δ}          (over probes r ≥ δ)
///     v_j ← Σ_r p_r[j]   / Σ_r h_r s_{r−j}          (over probes r ≥ j)
///
/// Why mass-matching and not least squares on log p: the mask is judged by attention MASS; least
/// squares in log space gives the billions of near-zero entries the same weight as the few that
/// carry the mass (we measured that naive log-space means lose to MInference). IPF weights each
/// entry by its probability, ignores what no probe sees (those v, s stay at their prior 1 × the
/// mean level), and is robust: a single huge outlier entry moves one v or one s, not the rest.
struct SkeletonFactors {
    var v: [Double]
    var s: [Double]

    /// probs: probes × width row-major (exact softmax rows), rows: their positions (ascending).
    static func fit(probs: [Float], width: Int, rows: [Int], tokens n: Int, sweeps: Int) -> SkeletonFactors {
        // Raw buffers: these O(rows · N) loops vectorise without per-element bounds checks; every
        // index is ≤ r < n (rows are query positions < n, probs has rows.count · width ≥ r + 1 per row).
        func buffer(_ value: Double, _ count: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
            p.initialize(repeating: value, count: count)
            return p
        }
        let v = buffer(1, n), s = buffer(1, n), h = buffer(1, rows.count)
        let num = buffer(0, n), den = buffer(0, n)
        // Observed diagonal and column sums do not change across sweeps.
        let diagObs = buffer(0, n), colObs = buffer(0, n)
        defer { for p in [v, s, h, num, den, diagObs, colObs] { p.deallocate() } }
        probs.withUnsafeBufferPointer { pb in
            for (pi, r) in rows.enumerated() {
                let row = pb.baseAddress! + pi * width
                for j in 0...r {
                    let p = Double(row[j])
                    colObs[j] += p; diagObs[r - j] += p
                }
            }
        }
        func updateH() {
            for (pi, r) in rows.enumerated() {
                var z = 0.0
                for j in 0...r { z += v[j] * s[r - j] }
                h[pi] = z > 0 ? 1 / z : 0
            }
        }
        for _ in 0..<max(1, sweeps) {
            updateH()
            for i in 0..<n { den[i] = 0 }
            for (pi, r) in rows.enumerated() { let hp = h[pi]; for j in 0...r { den[r - j] += hp * v[j] } }
            for d in 0..<n where den[d] > 0 { s[d] = max(diagObs[d] / den[d], 1e-30) }
            updateH()
            for i in 0..<n { num[i] = 0 }
            for (pi, r) in rows.enumerated() { let hp = h[pi]; for j in 0...r { num[j] += hp * s[r - j] } }
            for j in 0..<n where num[j] > 0 { v[j] = max(colObs[j] / num[j], 1e-30) }
        }
        return SkeletonFactors(v: Array(UnsafeBufferPointer(start: v, count: n)), s: Array(UnsafeBufferPointer(start: s, count: n)))
    }

    /// Row normaliser h[i] = 1 / Σ_{j≤i} v_j s_{i−j} for every row: the causal convolution of v and s,
    /// O(N²) multiply-adds (tests and plots; the mask itself works at block granularity).
    func horizontal() -> [Double] {
        let n = v.count
        var h = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var z = 0.0
            for j in 0...i { z += v[j] * s[i - j] }
            h[i] = z > 0 ? 1 / z : 0
        }
        return h
    }

    /// Modelled tile masses of one head (unnormalised per query block; the threshold normalises,
    /// which applies h at block granularity — h is taken constant inside a query block):
    ///
    ///     m̂[I, J] ∝ Σ_{j ∈ J} v_j · Σ_{i ∈ I, i ≥ j} s_{i−j} = Σ_{j∈J} v_j (C[i₁ − j] − C[max(i₀, j) − j])
    ///
    /// with C the prefix sum of s (C[δ] = Σ_{u<δ} s_u) and I = [i₀, i₁). O(|J|) per tile, O(N · N/B)
    /// per head — exact in v and s, the only approximation is h constant inside a block.
    func tileMasses(into out: inout TileMasses, head: Int) {
        let g = out.geometry
        let n = g.tokens
        var c = [Double](repeating: 0, count: n + 1)
        for d in 0..<n { c[d + 1] = c[d] + s[d] }
        for qb in 0..<g.queryBlocks {
            let rowsI = g.queryRows(qb)
            for kb in 0...g.lastCausalKeyBlock(qb) {
                var t = 0.0
                for j in g.keyColumns(kb) where j < rowsI.upperBound {
                    t += v[j] * (c[rowsI.upperBound - j] - c[max(rowsI.lowerBound, j) - j])
                }
                out[head, qb, kb] = t
            }
        }
    }
}
