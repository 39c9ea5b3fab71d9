import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// Checks every device routine of the GPU prefill (our element-wise kernels and the cuBLAS
/// product) against a float64 host reference on fresh random inputs, with odd sizes. Run by the
/// GPU test and by `skeleton gpu-prefill --kernel-check` on the device (CI has no GPU).
public enum ModelKernelSelfCheck {
    public struct Outcome: Sendable, CustomStringConvertible {
        public let name: String
        /// ‖gpu − ref‖₂ / ‖ref‖₂ (0 = bit-exact).
        public let relativeError: Double
        public let bound: Double
        public let nanCount: Int
        public var passed: Bool { nanCount == 0 && relativeError <= bound }
        public var description: String {
            "\(name): relative error \(String(format: "%.2e", relativeError)) (bound \(String(format: "%.0e", bound)))\(nanCount > 0 ? ", \(nanCount) NaN" : "") \(passed ? "ok" : "FAIL")"
        }
    }

    static func relativeError(_ a: [Float], _ ref: [Double]) -> (Double, Int) {
        var num = 0.0, den = 0.0, nans = 0
        for i in 0..<min(a.count, ref.count) {
            if a[i].isNaN { nans += 1; continue }
            let d = Double(a[i]) - ref[i]; num += d * d; den += ref[i] * ref[i]
        }
        return ((num / max(den, 1e-300)).squareRoot(), nans + abs(a.count - ref.count))
    }

    static func bf16Round(_ x: [Float]) -> [Float] { x.map { HalfBits.bf16ToFloat(HalfBits.floatToBF16($0)) } }

    /// Runs every check; the caller decides what a failure means (the test asserts `passed`).
    public static func run(library: KernelLibrary) throws -> [Outcome] {
        let device = library.device
        let kernels = try ModelKernels(library: library)
        let stream = try GPUStream(device: device)
        let blas = try CUBLASLibrary(stream: stream.rawHandle)
        func upload<T>(_ a: [T]) throws -> DeviceBuffer {
            let b = try DeviceBuffer(device: device, byteCount: a.count * MemoryLayout<T>.stride); try b.upload(a); return b
        }
        func poisoned(_ bytes: Int) throws -> DeviceBuffer {
            let b = try DeviceBuffer(device: device, byteCount: bytes); try b.fill32(0xFFFF_FFFF); return b  // NaN in f32 and bf16
        }
        func bf16(_ b: DeviceBuffer, _ count: Int) throws -> [Float] { try b.download(UInt16.self, count: count).map(HalfBits.bf16ToFloat) }
        var out: [Outcome] = []
        func record(_ name: String, _ gpu: [Float], _ ref: [Double], _ bound: Double) {
            let (e, nans) = relativeError(gpu, ref)
            out.append(Outcome(name: name, relativeError: e, bound: bound, nanCount: nans))
        }

        // Embedding gather: exact copy of table rows.
        do {
            let vocab = 50, width = 37, n = 23
            let table = (0..<(vocab * width)).map { _ in Float.random(in: -3...3) }
            let ids = (0..<n).map { _ in Int32.random(in: 0..<Int32(vocab)) }
            let x = try poisoned(n * width * 4)
            try kernels.embed(ids: try upload(ids), table: try upload(table), x: x, tokens: n, width: width, vocab: vocab, stream: stream)
            try stream.synchronize()
            let ref = ids.flatMap { id in (0..<width).map { Double(table[Int(id) * width + $0]) } }
            record("embed", try x.download(Float.self, count: n * width), ref, 0)
        }
        // RMSNorm of rows 5..<5+rows (firstRow), bf16 out.
        do {
            let total = 41, rows = 29, width = 576, first = 5
            let x = (0..<(total * width)).map { _ in Float.random(in: -4...4) }
            let gain = (0..<width).map { _ in Float.random(in: 0.2...2) }
            let y = try poisoned(rows * width * 2)
            try kernels.rmsNorm(x: try upload(x), gain: try upload(gain), y: y, rows: rows, width: width, epsilon: 1e-5,
                                firstRow: first, stream: stream)
            try stream.synchronize()
            var ref: [Double] = []
            for r in 0..<rows {
                let row = (0..<width).map { Double(x[(first + r) * width + $0]) }
                let s = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + 1e-5).squareRoot()
                for c in 0..<width { ref.append(row[c] * s * Double(gain[c])) }
            }
            record("rmsnorm->bf16", try bf16(y, rows * width), ref, 1e-2)
        }
        // RoPE + split: Q, K rotated (half-split pairs), V copied.
        do {
            let n = 33, hq = 3, hkv = 1, d = 64, half = d / 2, heads = hq + 2 * hkv
            let qkv = (0..<(n * heads * d)).map { _ in Float.random(in: -2...2) }
            var cosT = [Float](), sinT = [Float](), angles = [Double]()
            for t in 0..<n { for i in 0..<half {
                let a = Double(t) * Foundation.pow(10000.0, -2 * Double(i) / Double(d))
                angles.append(a); cosT.append(Float(Foundation.cos(a))); sinT.append(Float(Foundation.sin(a)))
            } }
            let q = try poisoned(n * hq * d * 2), k = try poisoned(n * hkv * d * 2), v = try poisoned(n * hkv * d * 2)
            try kernels.ropeSplit(qkv: try upload(qkv), cos: try upload(cosT), sin: try upload(sinT), q: q, k: k, v: v,
                                  tokens: n, heads: hq, kvHeads: hkv, headDim: d, stream: stream)
            try stream.synchronize()
            var refQ: [Double] = [], refK: [Double] = [], refV: [Double] = []
            for t in 0..<n {
                for h in 0..<heads {
                    var row = [Double](repeating: 0, count: d)
                    for i in 0..<half {
                        let a = Double(qkv[(t * heads + h) * d + i]), b = Double(qkv[(t * heads + h) * d + i + half])
                        if h < hq + hkv {
                            let c = Foundation.cos(angles[t * half + i]), s = Foundation.sin(angles[t * half + i])
                            row[i] = a * c - b * s; row[i + half] = a * s + b * c
                        } else { row[i] = a; row[i + half] = b }
                    }
                    if h < hq { refQ += row } else if h < hq + hkv { refK += row } else { refV += row }
                }
            }
            record("rope q->bf16", try bf16(q, n * hq * d), refQ, 1e-2)
            record("rope k->bf16", try bf16(k, n * hkv * d), refK, 1e-2)
            record("split v->bf16", try bf16(v, n * hkv * d), refV, 1e-2)
        }
        // Gated activations: silu(g)·u (SwiGLU) and gelu_tanh(g)·u (GeGLU), bf16 out.
        for activation in [ModelKernels.GatedActivation.silu, .geluTanh] {
            let n = 17, f = 100
            let gu = (0..<(n * 2 * f)).map { _ in Float.random(in: -6...6) }
            let a = try poisoned(n * f * 2)
            try kernels.glu(activation, gateUp: try upload(gu), out: a, tokens: n, feedForward: f, stream: stream)
            try stream.synchronize()
            var ref: [Double] = []
            for t in 0..<n { for j in 0..<f {
                let g = Double(gu[t * 2 * f + j]), u = Double(gu[t * 2 * f + f + j])
                let act = activation == .silu ? g / (1 + Foundation.exp(-g))
                                              : 0.5 * g * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (g + 0.044715 * g * g * g)))
                ref.append(act * u)
            } }
            record(activation == .silu ? "swiglu->bf16" : "geglu(tanh)->bf16", try bf16(a, n * f), ref, 1e-2)
        }
        // QK-norm + RoPE + split at Gemma-3's shape (d = 256, 4/1 heads): Q and K RMSNorm'ed per head
        // with their gains, then rotated; V copied.
        do {
            let n = 19, hq = 4, hkv = 1, d = 256, half = d / 2, heads = hq + 2 * hkv
            let eps: Float = 1e-6
            let qkv = (0..<(n * heads * d)).map { _ in Float.random(in: -20...20) }
            let qGain = (0..<d).map { _ in Float.random(in: 0.2...2) }, kGain = (0..<d).map { _ in Float.random(in: 0.2...2) }
            var cosT = [Float](), sinT = [Float](), angles = [Double]()
            for t in 0..<n { for i in 0..<half {
                let a = Double(t + 700) * Foundation.pow(1_000_000.0, -2 * Double(i) / Double(d))
                angles.append(a); cosT.append(Float(Foundation.cos(a))); sinT.append(Float(Foundation.sin(a)))
            } }
            let q = try poisoned(n * hq * d * 2), k = try poisoned(n * hkv * d * 2), v = try poisoned(n * hkv * d * 2)
            try kernels.qkNormRopeSplit(qkv: try upload(qkv), cos: try upload(cosT), sin: try upload(sinT), qGain: try upload(qGain),
                                        kGain: try upload(kGain), q: q, k: k, v: v, tokens: n, heads: hq, kvHeads: hkv, headDim: d,
                                        epsilon: eps, stream: stream)
            try stream.synchronize()
            var refQ: [Double] = [], refK: [Double] = [], refV: [Double] = []
            for t in 0..<n {
                for h in 0..<heads {
                    let src = (0..<d).map { Double(qkv[(t * heads + h) * d + $0]) }
                    if h >= hq + hkv { refV += src; continue }
                    let gain = h < hq ? qGain : kGain
                    let s = 1 / (src.reduce(0) { $0 + $1 * $1 } / Double(d) + Double(eps)).squareRoot()
                    var row = [Double](repeating: 0, count: d)
                    for i in 0..<half {
                        let a = src[i] * s * Double(gain[i]), b = src[i + half] * s * Double(gain[i + half])
                        let c = Foundation.cos(angles[t * half + i]), sn = Foundation.sin(angles[t * half + i])
                        row[i] = a * c - b * sn; row[i + half] = a * sn + b * c
                    }
                    if h < hq { refQ += row } else { refK += row }
                }
            }
            record("qknorm+rope q->bf16", try bf16(q, n * hq * d), refQ, 1e-2)
            record("qknorm+rope k->bf16", try bf16(k, n * hkv * d), refK, 1e-2)
            record("qknorm split v->bf16", try bf16(v, n * hkv * d), refV, 1e-2)
        }
        // Post-norm residual add: x += RMSNorm(y)·gain, fp32 throughout.
        do {
            let rows = 23, width = 640
            let y = (0..<(rows * width)).map { _ in Float.random(in: -50...50) }
            let x0 = (0..<(rows * width)).map { _ in Float.random(in: -5...5) }
            let gain = (0..<width).map { _ in Float.random(in: 0.2...2) }
            let x = try upload(x0)
            try kernels.rmsNormResidual(y: try upload(y), gain: try upload(gain), x: x, rows: rows, width: width, epsilon: 1e-6, stream: stream)
            try stream.synchronize()
            var ref: [Double] = []
            for r in 0..<rows {
                let row = (0..<width).map { Double(y[r * width + $0]) }
                let s = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(width) + 1e-6).squareRoot()
                for c in 0..<width { ref.append(Double(x0[r * width + c]) + row[c] * s * Double(gain[c])) }
            }
            record("rmsnorm residual (fp32)", try x.download(Float.self, count: rows * width), ref, 1e-5)
        }
        // Target log-probabilities (perplexity): log softmax in fp64 against a float64 log-sum-exp, a
        // vocabulary not a multiple of the block, logits spanning ±30, one row with a huge maximum.
        do {
            let rows = 13, vocab = 70_001
            var logits = (0..<(rows * vocab)).map { _ in Float.random(in: -30...30) }
            logits[5 * vocab + 12_345] = 80
            let targets = (0..<rows).map { _ in Int32.random(in: 0..<Int32(vocab)) }
            let lp = try poisoned(rows * 8)
            try kernels.targetLogProb(logits: try upload(logits), targets: try upload(targets), out: lp, rows: rows, vocab: vocab, stream: stream)
            try stream.synchronize()
            var ref: [Double] = []
            for r in 0..<rows {
                let row = logits[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
                let m = row.max()!
                ref.append(row[Int(targets[r])] - m - Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }))
            }
            // fp64 out: compare as Double (Float would round away the agreement being checked)
            let gpu = try lp.download(Double.self, count: rows)
            var num = 0.0, den = 0.0, nans = 0
            for (g, e) in zip(gpu, ref) { if g.isNaN { nans += 1 } else { num += (g - e) * (g - e); den += e * e } }
            out.append(Outcome(name: "target log-prob (fp64)", relativeError: (num / max(den, 1e-300)).squareRoot(), bound: 1e-12, nanCount: nans))
        }
        // cuBLAS: C = A·Wᵀ then C += A·Wᵀ again (β = 1), bf16 operands, reference on the rounded operands.
        do {
            let rows = 70, inDim = 96, outDim = 130
            let a = bf16Round((0..<(rows * inDim)).map { _ in Float.random(in: -1...1) })
            let w = bf16Round((0..<(outDim * inDim)).map { _ in Float.random(in: -1...1) })
            let c0 = (0..<(rows * outDim)).map { _ in Float.random(in: -1...1) }
            let ab = try upload(a.map(HalfBits.floatToBF16)), wb = try upload(w.map(HalfBits.floatToBF16))
            let c = try upload(c0)
            try blas.linear(a: ab.pointer, w: wb.pointer, c: c.pointer, rows: rows, inDim: inDim, outDim: outDim, accumulate: true)
            try stream.synchronize()
            var ref: [Double] = []
            for r in 0..<rows { for o in 0..<outDim {
                var s = Double(c0[r * outDim + o])
                for i in 0..<inDim { s += Double(a[r * inDim + i]) * Double(w[o * inDim + i]) }
                ref.append(s)
            } }
            record("cublas bf16 gemm (+C)", try c.download(Float.self, count: rows * outDim), ref, 1e-4)
            try blas.linear(a: ab.pointer, w: wb.pointer, c: c.pointer, rows: rows, inDim: inDim, outDim: outDim, accumulate: false)
            try stream.synchronize()
            for r in 0..<rows { for o in 0..<outDim { ref[r * outDim + o] -= Double(c0[r * outDim + o]) } }
            record("cublas bf16 gemm", try c.download(Float.self, count: rows * outDim), ref, 1e-4)
        }
        return out
    }
}
