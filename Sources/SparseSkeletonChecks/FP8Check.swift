import SparseSkeleton
import SparseSkeletonCUDA

/// `gpu-check`'s FP8 cases: the GPU quantiser against its CPU twin (`E4M3Quantized`, byte for byte), then the hopper
/// kernel's FP8 build against the float64 (dense) / float32 (masked) reference on the dequantised inputs (what the
/// kernel is given), outputs poisoned first. Also reported: the error against the reference on the unquantised
/// 16-bit inputs (what FP8 costs a user) and against our bf16/fp16 kernel's output.
public enum FP8Check {
    public struct Case: Sendable, CustomStringConvertible {
        public let dtype: DType
        public let tokens: Int
        public let queryHeads: Int
        public let kvHeads: Int
        public let mask: AttentionCheck.Case.MaskKind
        public var gridCap: Int? = nil
        /// Inputs' standard deviation (Q and K; V is 1): 1.2 gives peaked rows, 0.3 flat ones.
        public var scale: Float = 1.2
        /// Of every 8 accumulator tiles of S, how many take the FMA-pipe 2^x (FlashKernelTraits.fmaExp).
        public var fmaExp = 0

        public var traits: FlashKernelTraits {
            guard let t = FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: dtype, fp8: true, fmaExp: fmaExp) else {
                preconditionFailure("the FP8 kernel's traits are constants")
            }
            return t
        }
        public var description: String {
            "\(traits) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(mask.rawValue) σ\(scale)" + (gridCap.map { " grid≤\($0)" } ?? "")
        }
        /// ‖O − ref‖ / ‖ref‖ against the reference on the dequantised inputs: P is rounded to e4m3 (3 mantissa
        /// bits, relative error ≤ 2^-4 per probability) before P V, and O to 16 bits.
        public var tolerance: Double { 4e-2 }
    }

    public struct Row: Sendable {
        /// Quantiser bytes (Q, K, transposed V) and scales that differ from the CPU twin.
        public let codeMismatches: Int
        public let scaleMismatches: Int
        public let relError: Double
        public let relErrorVsUnquantised: Double
        public let relErrorVsSixteenBitKernel: Double
        public let lseMaxAbsError: Double
        public let nanCount: Int
        public let unwrittenLSE: Int
        public let fullVsDenseMismatches: Int?
        public let queueVsStaticMismatches: Int
        public let ok: Bool
    }

    public static let lseTolerance = 3e-2

    public static var cases: [Case] {
        var out: [Case] = []
        var i = 0
        for dtype in [DType.bf16, .f16] {
            for (n, hq, hkv) in [(200, 4, 4), (517, 8, 2), (1500, 8, 2), (333, 4, 1)] {
                for mask in [AttentionCheck.Case.MaskKind.full, .sparse] {
                    var c = Case(dtype: dtype, tokens: n, queryHeads: hq, kvHeads: hkv, mask: mask)
                    if i % 3 == 1 { c.gridCap = 3 }
                    if i % 4 == 3 { c.scale = 0.3 }
                    if i % 2 == 1 { c.fmaExp = 3 }
                    out.append(c)
                    i += 1
                }
            }
        }
        return out
    }

    public static func runAll(session: GPUSession, seed: UInt64, filter: String? = nil, log: (String) -> Void = { print($0) }) -> CheckSummary {
        log("FP8 (e4m3) attention: quantiser vs its CPU twin, kernel vs the reference on the dequantised inputs")
        log("case | codes≠ | scales≠ | rel.err | tol | vs unquantised | vs 16-bit kernel | LSE max|err| | NaN | full==dense | queue==static | verdict")
        var sum = CheckSummary()
        for (i, c) in cases.enumerated() {
            if let f = filter, !c.description.contains(f) { continue }
            sum.tally({ [try run(c, session: session, seed: seed &+ 104_729 &* UInt64(i + 1))] }, ok: \.ok, line: { r in
                let eq = r.fullVsDenseMismatches.map { $0 == 0 ? "yes" : "NO (\($0) differ)" } ?? "-"
                return "\(c) | \(r.codeMismatches) | \(r.scaleMismatches) | \(r.relError.sci) | \(c.tolerance.sci) | \(r.relErrorVsUnquantised.sci) | "
                    + "\(r.relErrorVsSixteenBitKernel.sci) | \(r.lseMaxAbsError.sci) | \(r.nanCount + r.unwrittenLSE) | \(eq) | "
                    + "\(r.queueVsStaticMismatches == 0 ? "yes" : "NO (\(r.queueVsStaticMismatches) differ)") | \(r.ok ? "ok" : "FAIL")"
            }, errorLine: { "\(c) | error: \($0) | FAIL" }, log: log)
        }
        log("FP8 check: \(sum.passed)/\(sum.ran) cases passed")
        return sum
    }

    static func relativeError(_ out: [Float], _ ref: [Float]) -> (rel: Double, nan: Int) {
        var num = 0.0, den = 0.0, nan = 0
        for (g, r) in zip(out, ref) {
            if g.isNaN { nan += 1; continue }
            num += Double(g - r) * Double(g - r); den += Double(r) * Double(r)
        }
        return (den > 0 ? (num / den).squareRoot() : num.squareRoot(), nan)
    }

    public static func run(_ c: Case, session s: GPUSession, seed: UInt64) throws -> Row {
        var rng = SplitMix64(seed: seed)
        let shape = try AttentionShape(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: 128)
        let n = shape.tokens, d = shape.headDim
        let q = try HeadTensor.roughNormal(name: "Q", tokens: n, heads: shape.queryHeads, headDim: d, dtype: c.dtype, scale: c.scale, rng: &rng)
        let k = try HeadTensor.roughNormal(name: "K", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: c.scale, rng: &rng)
        let v = try HeadTensor.roughNormal(name: "V", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: 1, rng: &rng)
        let sixteen = try AttentionInputs(q: q, k: k, v: v)  // the 16-bit values as floats
        let geometry = try TileGeometry(tokens: n, queryTile: 128, keyTile: 128)
        let hostMask: BlockMask = c.mask == .full ? try BlockMask.full(geometry: geometry, heads: shape.queryHeads)
                                                  : try AttentionCheck.randomMask(geometry: geometry, heads: shape.queryHeads, rng: &rng)

        // the quantiser, byte for byte against its CPU twin
        let qd = try s.upload(q), kd = try s.upload(k), vd = try s.upload(v)
        let x = try FP8AttentionInputs(device: s.device, shape: shape)
        for b in [x.q, x.k, x.vTransposed] { try b.fill8(0xA5) }  // poison: every byte must be written
        try x.scales.fill32(0x7FC0_0000)
        try FP8Quantizer(library: s.library).quantize(q: qd, k: kd, v: vd, dtype: c.dtype, into: x, stream: s.stream)
        try s.stream.synchronize()
        let cq = E4M3Quantized(values: sixteen.q, tokens: n, heads: shape.queryHeads, headDim: d)
        let ck = E4M3Quantized(values: sixteen.k, tokens: n, heads: shape.kvHeads, headDim: d)
        let cv = E4M3Quantized(values: sixteen.v ?? [], tokens: n, heads: shape.kvHeads, headDim: d, transposedTo: x.paddedTokens)
        let gq = try x.q.download(UInt8.self, count: cq.codes.count), gk = try x.k.download(UInt8.self, count: ck.codes.count)
        let gv = try x.vTransposed.download(UInt8.self, count: cv.codes.count)
        let gs = try x.scales.download(Float.self, count: x.scaleCount)
        let codeMismatches = zip(gq, cq.codes).filter { $0 != $1 }.count + zip(gk, ck.codes).filter { $0 != $1 }.count
            + zip(gv, cv.codes).filter { $0 != $1 }.count
        let scaleMismatches = zip(gs, cq.scales + ck.scales + cv.scales).filter { $0.bitPattern != $1.bitPattern }.count

        // the reference on what the kernel is given: the GPU's codes × scales, V back in key order
        let qh = shape.queryHeads, kh = shape.kvHeads
        let dq = gq.enumerated().map { i, b in E4M3.decode(b) * gs[(i / d) % qh] }
        let dk = gk.enumerated().map { i, b in E4M3.decode(b) * gs[qh + (i / d) % kh] }
        var dv = [Float](repeating: 0, count: n * kh * d)
        for h in 0..<kh {
            for cc in 0..<d {
                for j in 0..<x.paddedTokens {
                    let key = 32 * (j / 32) + E4M3.keyOfPosition(j % 32)
                    if key < n { dv[(key * kh + h) * d + cc] = E4M3.decode(gv[(h * d + cc) * x.paddedTokens + j]) * gs[qh + kh + h] }
                }
            }
        }
        let dequantised = try AttentionInputs(shape: shape, q: dq, k: dk, v: dv)

        let outCount = n * qh * d
        let o = try DeviceBuffer(device: s.device, byteCount: outCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * qh * 4)
        let deviceMask = try DeviceBlockMask(device: s.device, mask: hostMask)
        s.attention.persistentGridCap = c.gridCap
        defer { s.attention.persistentGridCap = nil; s.attention.dynamicSparseOrder = true }
        func launch(_ m: DeviceBlockMask?, fp8: Bool = true) throws -> ([Float], [Float]) {
            try o.fill32(0xFFFF_FFFF)
            try lse.fill32(0x7FC0_0000)
            if fp8 {
                try s.attention.forwardFP8(traits: c.traits, inputs: x, o: o, lse: lse, mask: m, stream: s.stream)
            } else {
                let t = FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: c.dtype) ?? c.traits
                try s.attention.forward(shape: shape, traits: t, q: qd, k: kd, v: vd, o: o, lse: lse, mask: m, stream: s.stream)
            }
            try s.stream.synchronize()
            return (try s.downloadFloats(o, count: outCount, dtype: c.dtype), try lse.download(Float.self, count: n * qh))
        }
        let (out, lseOut) = try launch(deviceMask)
        var denseMismatches: Int? = nil
        if c.mask == .full {
            let (dense, _) = try launch(nil)
            denseMismatches = zip(out, dense).filter { $0.bitPattern != $1.bitPattern }.count
        }
        s.attention.dynamicSparseOrder = false
        let (staticOut, _) = try launch(deviceMask)
        s.attention.dynamicSparseOrder = true
        let orderMismatches = zip(out, staticOut).filter { $0.bitPattern != $1.bitPattern }.count
        let (sixteenOut, _) = try launch(deviceMask, fp8: false)

        let ref = c.mask == .full ? try ReferenceAttention.dense(dequantised, precision: .float64)
                                  : try ReferenceAttention.masked(dequantised, mask: hostMask)
        let unquantisedRef = c.mask == .full ? try ReferenceAttention.dense(sixteen, precision: .float64)
                                             : try ReferenceAttention.masked(sixteen, mask: hostMask)
        let (rel, nan) = relativeError(out, ref.output)
        var lseErr = 0.0, unwritten = 0
        for (i, g) in lseOut.enumerated() where i < (ref.logSumExp ?? []).count {
            let r = ref.logSumExp![i]
            if g.isNaN { unwritten += 1; continue }
            if r == -.infinity || g == -.infinity { if r != g { lseErr = .infinity }; continue }
            lseErr = max(lseErr, Double(abs(g - r)))
        }
        let ok = codeMismatches == 0 && scaleMismatches == 0 && nan == 0 && unwritten == 0 && rel <= c.tolerance && lseErr <= lseTolerance
            && (denseMismatches ?? 0) == 0 && orderMismatches == 0
        return Row(codeMismatches: codeMismatches, scaleMismatches: scaleMismatches, relError: rel,
                   relErrorVsUnquantised: relativeError(out, unquantisedRef.output).rel,
                   relErrorVsSixteenBitKernel: relativeError(out, sixteenOut).rel, lseMaxAbsError: lseErr, nanCount: nan,
                   unwrittenLSE: unwritten, fullVsDenseMismatches: denseMismatches, queueVsStaticMismatches: orderMismatches, ok: ok)
    }
}
