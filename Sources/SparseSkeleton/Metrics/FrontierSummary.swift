import Foundation

/// What `mask-eval` ends with: per estimator, the density needed for mean recall R (the frontier),
/// the output error and worst-row recall at R = 0.95, the skeleton's density over each estimator's
/// at 0.95, and one line saying what it means.
public struct FrontierSummary: Sendable {
    public struct Row: Sendable, Codable {
        public var estimator: String
        public var heads: Int
        /// Mean over heads of the density needed for each recall of `recalls`.
        public var density: [Double]
        /// Mean over heads of ‖O − Ô‖/‖O‖ at each recall (nil without V).
        public var outputError: [Double]?
        /// Mean over heads of the lowest row recall of each head's mask at each recall.
        public var worstRow: [Double]
        /// Mean over heads of each head's 5th-percentile (`FrontierRunner.rowQuantile`) row recall at
        /// each recall; nil when not scored.
        public var lowRow: [Double]?
        /// Heads whose sweep never reached each recall (counted as density 1).
        public var unreached: [Int]
        /// Mean density over heads along `FrontierRunner.curveRecalls`.
        public var curve: [Double]

        public init(estimator: String, heads: Int, density: [Double], outputError: [Double]?, worstRow: [Double], unreached: [Int], curve: [Double] = [],
                    lowRow: [Double]? = nil) {
            self.estimator = estimator; self.heads = heads; self.density = density; self.outputError = outputError
            self.worstRow = worstRow; self.unreached = unreached; self.curve = curve; self.lowRow = lowRow
        }

        init(estimator: String, _ a: FrontierRunner.Accumulator, lowRow scored: Bool = false) {
            let n = Double(max(a.heads, 1))
            self.init(estimator: estimator, heads: a.heads, density: a.density.map { $0 / n },
                      outputError: a.error.allSatisfy { $0 == 0 } ? nil : a.error.map { $0 / n },
                      worstRow: a.worstRow.map { $0 / n }, unreached: a.unreached, curve: a.curve.map { $0 / n },
                      lowRow: scored ? a.lowRow.map { $0 / n } : nil)
        }
    }

    public let recalls: [Double]
    public let rows: [Row]
    public let promise: FrontierRunner.Promise?
    public let promiseEpsilon: Double
    public static let skeleton = "skeleton", oracle = "oracle"

    public init(recalls: [Double], rows: [Row], promise: FrontierRunner.Promise? = nil, promiseEpsilon: Double = 0.05) {
        self.recalls = recalls; self.rows = rows; self.promise = promise; self.promiseEpsilon = promiseEpsilon
    }

    var index95: Int? { recalls.firstIndex { abs($0 - 0.95) < 1e-9 } }
    func row(_ name: String) -> Row? { rows.first { $0.estimator == name } }

    /// The skeleton's density at recall 0.95 over `estimator`'s (below 1: the skeleton keeps fewer tiles).
    public func skeletonRatio(to estimator: String) -> Double? {
        guard let i = index95, let s = row(Self.skeleton), let other = row(estimator), other.density[i] > 0 else { return nil }
        return s.density[i] / other.density[i]
    }

    static func f(_ x: Double?, _ digits: Int = 3) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "-" }

    /// The ten-second table (plain text, aligned).
    public func table(title: String) -> String {
        let i = index95
        let low = rows.contains { $0.lowRow != nil }
        let head = ["estimator", "heads"] + recalls.map { "d@\($0)" } + ["out.err@0.95", "worst.row@0.95(mean)"] + (low ? ["p5.row@0.95(mean)"] : [])
            + ["skeleton÷this@0.95", "unreached"]
        var cells = [head]
        for r in rows {
            cells.append([r.estimator, String(r.heads)] + r.density.map { Self.f($0) }
                         + [Self.f(i.flatMap { r.outputError?[$0] }, 4), Self.f(i.map { r.worstRow[$0] })]
                         + (low ? [Self.f(i.flatMap { r.lowRow?[$0] })] : [])
                         + [Self.f(skeletonRatio(to: r.estimator), 2), r.unreached.map(String.init).joined(separator: "/")])
        }
        let widths = (0..<head.count).map { c in cells.map { $0[c].count }.max()! + 2 }
        var out = "\(title)\ndensity needed for mean attention recall R (fraction of causal tiles kept, knob tuned per head; lower is better)\n"
        for row in cells { out += zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined().trimmingCharacters(in: .whitespaces) + "\n" }
        if let p = promise, p.heads > 0 {
            let n = Double(p.heads)
            out += String(format: "skeleton ε = %.2f promise: true mean recall ≥ %.2f on %d / %d heads (%.1f%%), mean density %.3f\n",
                          promiseEpsilon, 1 - promiseEpsilon, p.kept, p.heads, 100 * Double(p.kept) / n, p.densitySum / n)
        }
        return out
    }

    /// One line: what the skeleton achieved at recall 0.95 against the oracle and the baselines.
    public var verdict: String {
        guard let i = index95, let s = row(Self.skeleton) else { return "verdict: no skeleton row at recall 0.95" }
        var parts: [String] = []
        if let o = skeletonRatio(to: Self.oracle) { parts.append(String(format: "%.2f× the exact oracle's density", o)) }
        let baselines = rows.filter { $0.estimator != Self.skeleton && $0.estimator != Self.oracle }
        let ratios = baselines.compactMap { b in skeletonRatio(to: b.estimator).map { (b.estimator, $0) } }
        if !ratios.isEmpty {
            let beaten = ratios.filter { $0.1 < 1 }.map(\.0), notBeaten = ratios.filter { $0.1 >= 1 }.map(\.0)
            let list = ratios.map { String(format: "%@ %.2f×", $0.0, $0.1) }.joined(separator: ", ")
            if notBeaten.isEmpty {
                parts.append("fewer tiles than every baseline (\(list))")
            } else if beaten.isEmpty {
                parts.append("more tiles than every baseline (\(list))")
            } else {
                parts.append("fewer tiles than \(beaten.joined(separator: ", ")) but not \(notBeaten.joined(separator: ", ")) (\(list))")
            }
        }
        if let e = s.outputError?[i], let best = baselines.filter({ $0.outputError != nil }).min(by: { $0.outputError![i] < $1.outputError![i] }) {
            parts.append(String(format: "output error %.3f there (lowest baseline: %@ %.3f)", e, best.estimator, best.outputError![i]))
        }
        return String(format: "verdict: for mean recall 0.95 the skeleton keeps %.1f%% of the tiles: ", 100 * s.density[i]) + parts.joined(separator: "; ")
    }

    /// The frontier as a markdown table (the report's first section).
    public func markdown(title: String) -> String {
        let low = rows.contains { $0.lowRow != nil }
        var out = "### \(title)\n\n| estimator | heads | " + recalls.map { "density@\($0)" }.joined(separator: " | ")
            + " | " + recalls.map { "out.err@\($0)" }.joined(separator: " | ") + " | worst row@0.95 (mean over heads) |"
            + (low ? " 5th-percentile row@0.95 (mean over heads) |" : "") + " skeleton ÷ this @0.95 | unreached |\n"
        out += "|" + String(repeating: "---|", count: 5 + 2 * recalls.count + (low ? 1 : 0)) + "\n"
        for r in rows {
            out += "| \(r.estimator) | \(r.heads) | " + r.density.map { Self.f($0) }.joined(separator: " | ")
                + " | " + (r.outputError ?? recalls.map { _ in .nan }).map { $0.isNaN ? "-" : Self.f($0, 4) }.joined(separator: " | ")
                + " | \(Self.f(index95.map { r.worstRow[$0] })) |" + (low ? " \(Self.f(index95.flatMap { r.lowRow?[$0] })) |" : "")
                + " \(Self.f(skeletonRatio(to: r.estimator), 2)) | \(r.unreached.map(String.init).joined(separator: "/")) |\n"
        }
        if let p = promise, p.heads > 0 {
            let n = Double(p.heads)
            out += String(format: "\nSkeleton error-bound promise, ε = %.2f: true mean recall ≥ %.2f on %d / %d heads (%.1f%%); mean true recall %.4f, mean probe-estimated recall %.4f, mean density %.3f\n",
                          promiseEpsilon, 1 - promiseEpsilon, p.kept, p.heads, 100 * Double(p.kept) / n, p.recallSum / n, p.estRecallSum / n, p.densitySum / n)
        }
        return out + "\n" + verdict + "\n"
    }
}
