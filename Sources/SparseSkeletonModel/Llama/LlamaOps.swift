import Dispatch
import Foundation
import SparseSkeleton

/// The element-wise pieces of a Llama block (everything that is not a matrix product).
public enum LlamaOps {
    /// y[t] = x[t] / sqrt(mean(x[t]²) + ε) ⊙ g for each of `rows` rows of width `width`
    /// (mean of squares accumulated in Double).
    static func rmsNorm(_ x: [Float], rows: Int, width: Int, gain: [Float], epsilon: Float) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                let xp = xb.baseAddress!, yp = SendablePointer(yb.baseAddress!)
                parallelRows(rows) { r in
                    let row = xp + r * width
                    var ss = 0.0
                    for c in 0..<width { ss += Double(row[c]) * Double(row[c]) }
                    let scale = Float(1 / (ss / Double(width) + Double(epsilon)).squareRoot())
                    for c in 0..<width { yp.p[r * width + c] = row[c] * scale * gain[c] }
                }
            }
        }
        return y
    }

    /// a ← silu(a) ⊙ b with silu(z) = z / (1 + e^−z): SwiGLU's gate.
    static func siluMultiply(_ a: inout [Float], _ b: [Float]) {
        let n = a.count
        a.withUnsafeMutableBufferPointer { ab in
            let ap = SendablePointer(ab.baseAddress!)
            b.withUnsafeBufferPointer { bb in
                let bp = bb.baseAddress!
                let chunk = 1 << 16
                parallelRows((n + chunk - 1) / chunk) { c in
                    for i in (c * chunk)..<min(n, (c + 1) * chunk) {
                        let z = ap.p[i]
                        ap.p[i] = z / (1 + Foundation.exp(-z)) * bp[i]
                    }
                }
            }
        }
    }

    /// cos and sin of position·θ_i for positions `positions` and pairs i < d/2, where
    /// θ_i = base^(−2i/d) and positions are divided by the linear scaling factor. Angles in Double.
    public struct RoPETable {
        public let cos: [Float], sin: [Float], half: Int, start: Int

        public init(positions: Range<Int>, headDim d: Int, base: Double, linearFactor: Double) {
            half = d / 2; start = positions.lowerBound
            var c = [Float](repeating: 0, count: positions.count * half), s = c
            for (t, pos) in positions.enumerated() {
                for i in 0..<half {
                    let angle = Double(pos) / linearFactor * Foundation.pow(base, -2 * Double(i) / Double(d))
                    c[t * half + i] = Float(Foundation.cos(angle)); s[t * half + i] = Float(Foundation.sin(angle))
                }
            }
            cos = c; sin = s
        }
    }

    /// Half-split rotation in place on x [tokens, heads, d]: for pair (i, i + d/2) of each head,
    /// (a, b) ← (a·cos − b·sin, a·sin + b·cos).
    static func applyRoPE(_ x: inout [Float], tokens: Int, heads: Int, headDim d: Int, table: RoPETable) {
        let half = d / 2
        x.withUnsafeMutableBufferPointer { xb in
            let xp = SendablePointer(xb.baseAddress!)
            parallelRows(tokens) { t in
                for h in 0..<heads {
                    let base = (t * heads + h) * d
                    for i in 0..<half {
                        let c = table.cos[t * half + i], s = table.sin[t * half + i]
                        let a = xp.p[base + i], b = xp.p[base + i + half]
                        xp.p[base + i] = a * c - b * s
                        xp.p[base + i + half] = a * s + b * c
                    }
                }
            }
        }
    }

    /// Runs body(0..<count) across cores in contiguous chunks.
    static func parallelRows(_ count: Int, _ body: (Int) -> Void) {
        let workers = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount * 2))
        guard workers > 1 else { for r in 0..<count { body(r) }; return }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = count * w / workers, hi = count * (w + 1) / workers
            for r in lo..<hi { body(r) }
        }
    }
}

/// A raw pointer that disjoint workers write through (each writes its own rows).
struct SendablePointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
