import Foundation

/// The element-wise pieces of a Gemma-3 block that a Llama block does not have.
enum Gemma3Ops {
    /// a ← gelu(a) ⊙ b with the tanh form gelu(z) = ½z(1 + tanh(√(2/π)(z + 0.044715 z³))): GeGLU.
    static func geluTanhMultiply(_ a: inout [Float], _ b: [Float]) {
        let n = a.count
        let c = Float((2 / Double.pi).squareRoot())
        a.withUnsafeMutableBufferPointer { ab in
            let ap = SendablePointer(ab.baseAddress!)
            b.withUnsafeBufferPointer { bb in
                let bp = bb.baseAddress!
                let chunk = 1 << 16
                LlamaOps.parallelRows((n + chunk - 1) / chunk) { k in
                    for i in (k * chunk)..<min(n, (k + 1) * chunk) {
                        let z = ap.p[i]
                        ap.p[i] = 0.5 * z * (1 + Foundation.tanh(c * (z + 0.044715 * z * z * z))) * bp[i]
                    }
                }
            }
        }
    }

    /// Adds `y` into `x` element-wise.
    static func add(_ x: inout [Float], _ y: [Float]) {
        for i in x.indices { x[i] += y[i] }
    }
}
