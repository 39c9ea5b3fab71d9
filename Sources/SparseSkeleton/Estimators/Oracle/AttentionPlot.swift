import Foundation

/// `mask-eval --png`: three panels of one head side by side, each S × S pixels (S = min(N, 512), a pixel
/// averages its cell of the N × N matrix): (1) the true attention A on a log scale (10⁻⁶ … 1),
/// (2) the skeleton's estimate h·v·s on the same scale, (3) the kept tiles of the skeleton's
/// ε = 0.05 mask: true attention in green where kept, in red where missed. A caption band above
/// names the panels.
public enum AttentionPlot {
    public static func write(inputs x: AttentionInputs, head: Int, tile: Int, skeleton: SkeletonEstimator, path: String) throws {
        guard head >= 0, head < x.shape.queryHeads else {
            throw SkeletonError.invalidArgument("--head \(head) is outside 0..<\(x.shape.queryHeads)")
        }
        let n = x.shape.tokens, size = min(n, 512)
        let g = try TileGeometry(tokens: n, queryTile: tile, keyTile: tile)
        let truth = try AttentionPixels.exact(x, head: head, size: size)
        let fit = try skeleton.fitHeads(x, geometry: g)[head]
        let model = AttentionPixels.modelled(fit, size: size)
        let mask = try skeleton.estimate(x, geometry: g, target: .errorBound(epsilon: 0.05)).mask
        let w = 3 * size + 2 * 8, band = 20
        var canvas = PlotCanvas(width: w, height: size + band)
        for (panel, caption) in ["true attention (log scale)", "skeleton estimate", "kept tiles eps 0.05: green kept, red missed"].enumerated() {
            canvas.text(caption, x: panel * (size + 8) + 4, y: 4)
        }
        func level(_ a: Double) -> UInt8 {
            guard a > 0 else { return 0 }
            return UInt8(max(0, min(255, (log10(a) + 6) / 6 * 255)))
        }
        for py in 0..<size {
            let i = py * n / size
            for px in 0...py {
                let j = px * n / size
                let t = level(truth[py * size + px]), m = level(model[py * size + px])
                func put(_ panel: Int, _ r: UInt8, _ gg: UInt8, _ b: UInt8) { canvas.set(panel * (size + 8) + px, band + py, (r, gg, b)) }
                put(0, 255 - t, 255 - t, 255 - t)
                put(1, 255 - m, 255 - m, 255 - m)
                let kept = mask.contains(head: head, queryBlock: i / tile, keyBlock: j / tile)
                if kept { put(2, 255 - t, 255, 255 - t) } else { put(2, 255, 255 - t, 255 - t) }
            }
        }
        try canvas.write(to: path)
    }
}
