import Foundation

/// The frontier as a picture: mean recall (x, from the first curve recall to 1) against the density
/// needed for it (y, 0 to the largest density drawn), one coloured line per estimator, legend top left.
public enum FrontierPlot {
    static let palette: [String: PlotCanvas.Colour] = [
        "skeleton": (214, 39, 40), "oracle": (0, 0, 0), "minference": (31, 119, 180),
        "flexprefill": (44, 160, 44), "xattention": (148, 103, 189),
    ]
    static let fallback: [PlotCanvas.Colour] = [(255, 127, 14), (140, 86, 75), (227, 119, 194)]

    public static func write(_ summary: FrontierSummary, curveRecalls: [Double], title: String, path: String) throws {
        guard let r0 = curveRecalls.first, let r1 = curveRecalls.last, r1 > r0 else {
            throw SkeletonError.invalidArgument("the frontier plot needs at least two curve recalls")
        }
        let w = 720, h = 480, left = 70, right = 20, top = 40, bottom = 50
        var c = PlotCanvas(width: w, height: h)
        let top1 = min(1, (summary.rows.flatMap(\.curve).max() ?? 1) * 1.05)
        let step = top1 <= 0.4 ? 0.05 : 0.1
        let yMax = max(step, (top1 / step).rounded(.up) * step)
        let xHi = 1.0
        func px(_ recall: Double) -> Double { Double(left) + (recall - r0) / (xHi - r0) * Double(w - left - right) }
        func py(_ density: Double) -> Double { Double(h - bottom) - density / yMax * Double(h - top - bottom) }
        // axes, grid and ticks
        let grey: PlotCanvas.Colour = (225, 225, 225)
        for k in 0...Int((yMax / step).rounded()) {
            let d = step * Double(k)
            c.line(Double(left), py(d), Double(w - right), py(d), grey)
            let label = String(format: "%.2f", d)
            c.text(label, x: left - 8 - PlotCanvas.textWidth(label), y: Int(py(d)) - 5)
        }
        var tick = (r0 * 100).rounded(.up) / 100
        while tick <= xHi + 1e-9 {
            if Int((tick * 100).rounded()) % 5 == 0 {
                c.line(px(tick), Double(top), px(tick), Double(h - bottom), grey)
                let label = String(format: "%.2f", tick)
                c.text(label, x: Int(px(tick)) - PlotCanvas.textWidth(label) / 2, y: h - bottom + 8)
            }
            tick += 0.01
        }
        c.line(Double(left), Double(h - bottom), Double(w - right), Double(h - bottom), (0, 0, 0), thickness: 2)
        c.line(Double(left), Double(top), Double(left), Double(h - bottom), (0, 0, 0), thickness: 2)
        c.text("mean attention recall", x: (w - PlotCanvas.textWidth("mean attention recall")) / 2, y: h - 22)
        c.text("density", x: 6, y: top - 22)
        c.text(title, x: left + 10, y: 8)
        // curves and legend
        var spare = fallback.makeIterator()
        for (i, row) in summary.rows.enumerated() where row.curve.count == curveRecalls.count {
            let colour = palette[row.estimator] ?? spare.next() ?? (128, 128, 128)
            for k in 1..<curveRecalls.count {
                c.line(px(curveRecalls[k - 1]), py(row.curve[k - 1]), px(curveRecalls[k]), py(row.curve[k]), colour, thickness: 3)
            }
            let ly = top + 12 + 20 * i
            c.fill(x: left + 14, y: ly + 3, w: 24, h: 4, colour)
            c.text(row.estimator, x: left + 46, y: ly)
        }
        try c.write(to: path)
    }
}
