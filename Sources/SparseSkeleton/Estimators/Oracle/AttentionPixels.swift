/// Down-sampled attention images of one head for plots: the N × N causal matrix averaged over
/// size × size cells (cell (y, x) covers rows [yN/size, (y+1)N/size) and the same columns).
public enum AttentionPixels {
    /// The exact softmax attention, cell means.
    public static func exact(_ x: AttentionInputs, head: Int, size: Int, spec: AttentionSpec = .causal) throws -> [Double] {
        let spec = try spec.checked(for: "the attention image")
        let n = x.shape.tokens
        var out = [Double](repeating: 0, count: size * size)
        var count = [Double](repeating: 0, count: size * size)
        var start = 0
        while start < n {
            let rows = Array(start..<min(n, start + 256))
            let (p, width, _) = try ExactRows.probabilities(x, head: head, rows: rows, spec: spec)
            for (r, i) in rows.enumerated() {
                let y = i * size / n
                for j in 0..<n {
                    let c = y * size + j * size / n
                    out[c] += j < width ? Double(p[r * width + j]) : 0; count[c] += 1
                }
            }
            start += 256
        }
        for c in 0..<out.count where count[c] > 0 { out[c] /= count[c] }
        return out
    }

    /// The skeleton's modelled attention h[i] v[j] s[i − j], cell means.
    public static func modelled(_ fit: SkeletonHeadFit, size: Int) -> [Double] {
        let n = fit.vertical.count
        let h = fit.horizontal()
        var out = [Double](repeating: 0, count: size * size)
        var count = [Double](repeating: 0, count: size * size)
        for i in 0..<n {
            let y = i * size / n
            for j in 0..<n {
                let c = y * size + j * size / n
                out[c] += fit.modelled(row: i, key: j, h: h); count[c] += 1
            }
        }
        for c in 0..<out.count where count[c] > 0 { out[c] /= count[c] }
        return out
    }
}
