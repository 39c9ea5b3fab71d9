import Dispatch
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// One case of `gpu-check`'s exact-tile-mass check: `ExactTileMass` from the dense kernel's LSE on
/// seeded random inputs against a float64 softmax of every row (its own normaliser, not the
/// kernel's LSE), every (head, row, key tile) entry compared, the output poisoned first.
public struct TileMassCheckCase: Sendable, CustomStringConvertible {
    let dtype: DType
    let tokens: Int
    let queryHeads: Int
    let kvHeads: Int
    let headDim: Int
    let spec: AttentionSpec
    /// Standard deviation of the random Q and K entries (larger: sharper attention).
    let spread: Float

    public var description: String {
        "tile-mass \(dtype.rawValue) d\(headDim) N=\(tokens) heads \(queryHeads)/\(kvHeads) [\(spec)] spread \(spread)"
    }
    /// Largest absolute error of one mass (masses are in [0, 1]).
    public var tolerance: Double { 1e-4 }
}

public struct TileMassCheckResult: Sendable {
    public let maxAbsError: Double
    /// Largest |Σ_J mass[i, J] − 1| over rows of the GPU masses.
    public let maxRowSumError: Double
    /// NaN entries (poisoned first: also the unwritten ones).
    public let nanCount: Int
    public let ok: Bool
}

public enum TileMassCheck {
    /// Gemma-3's global-layer shape (d 256, 4/1 heads), GQA 8/2 at d 64 and MHA at d 128; N not a
    /// multiple of 64; bf16 and fp16; the default and a custom scale; flat and sharp attention.
    public static func defaultCases() -> [TileMassCheckCase] {
        [TileMassCheckCase(dtype: .bf16, tokens: 1000, queryHeads: 4, kvHeads: 1, headDim: 256, spec: .causal, spread: 1.2),
         TileMassCheckCase(dtype: .bf16, tokens: 1536, queryHeads: 4, kvHeads: 1, headDim: 256, spec: AttentionSpec(scale: 0.0625), spread: 2.5),
         TileMassCheckCase(dtype: .f16, tokens: 777, queryHeads: 8, kvHeads: 2, headDim: 64, spec: AttentionSpec(scale: 1.3 / 8), spread: 1.2),
         TileMassCheckCase(dtype: .bf16, tokens: 2048, queryHeads: 2, kvHeads: 2, headDim: 128, spec: .causal, spread: 1.6)]
    }

    public static func runAll(session s: GPUSession, seed: UInt64, filter: String?,
                              log: (String) -> Void = { print($0) }) -> CheckSummary {
        log("exact tile masses (float64 softmax of every row):")
        log("case | max|err| | tol | max|row sum − 1| | NaN | verdict")
        var sum = CheckSummary()
        for (i, c) in defaultCases().enumerated() {
            if let f = filter, !c.description.contains(f) { continue }
            sum.ran += 1
            do {
                let r = try run(c, session: s, seed: seed &+ 15_485_863 &+ UInt64(i) &* 7919)
                if !r.ok { sum.failed += 1 }
                log("\(c) | \(r.maxAbsError.sci) | \(c.tolerance.sci) | \(r.maxRowSumError.sci) | \(r.nanCount) | \(r.ok ? "ok" : "FAIL")")
            } catch {
                sum.failed += 1
                log("\(c) | error: \(error) | FAIL")
            }
        }
        log("gpu-check (tile masses): \(sum.passed)/\(sum.ran) cases passed")
        return sum
    }

    public static func run(_ c: TileMassCheckCase, session s: GPUSession, seed: UInt64) throws -> TileMassCheckResult {
        var rng = SplitMix64(seed: seed)
        let shape = try AttentionShape(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.headDim)
        let n = shape.tokens, d = shape.headDim, tiles = ExactTileMass.keyTiles(tokens: n)
        let q = try HeadTensor.roughNormal(name: "Q", tokens: n, heads: shape.queryHeads, headDim: d, dtype: c.dtype, scale: c.spread, rng: &rng)
        let k = try HeadTensor.roughNormal(name: "K", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: c.spread, rng: &rng)
        let v = try HeadTensor.roughNormal(name: "V", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: 1, rng: &rng)
        let x = try AttentionInputs(q: q, k: k, v: v)  // the rounded values the GPU sees
        let qd = try s.upload(q), kd = try s.upload(k), vd = try s.upload(v)
        let o = try DeviceBuffer(device: s.device, byteCount: n * shape.queryHeads * d * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * shape.queryHeads * 4)
        let mass = try DeviceBuffer(device: s.device, byteCount: ExactTileMass.byteCount(shape))
        try lse.fill32(0x7FC0_0000); try mass.fill32(0x7FC0_0000)  // Float NaN: every entry must be written
        let g = try TileGeometry(tokens: n, queryTile: 128, keyTile: 64)
        let traits = try FlashKernelTraits.default(headDim: d, geometry: g, dtype: c.dtype)
        try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: o, lse: lse, mask: nil, spec: c.spec, stream: s.stream)
        try ExactTileMass(library: s.library).compute(shape: shape, dtype: c.dtype, q: qd, k: kd, lse: lse, spec: c.spec, mass: mass, stream: s.stream)
        try s.stream.synchronize()
        let got = try mass.download(Float.self, count: shape.queryHeads * n * tiles)
        let want = reference(x, spec: c.spec)
        var maxErr = 0.0, nan = 0, rowErr = 0.0
        for (a, b) in zip(got, want) { if a.isNaN { nan += 1 } else { maxErr = max(maxErr, abs(Double(a) - b)) } }
        for r in 0..<(shape.queryHeads * n) {
            var t = 0.0
            for J in 0..<tiles { t += Double(got[r * tiles + J]) }
            if t.isFinite { rowErr = max(rowErr, abs(t - 1)) }
        }
        return TileMassCheckResult(maxAbsError: maxErr, maxRowSumError: rowErr, nanCount: nan,
                                   ok: nan == 0 && maxErr <= c.tolerance && got.count == want.count)
    }

    /// float64 [heads, N, tiles] masses, each row's softmax normalised by its own sum.
    static func reference(_ x: AttentionInputs, spec: AttentionSpec) -> [Double] {
        let s = x.shape, n = s.tokens, d = s.headDim, tiles = ExactTileMass.keyTiles(tokens: n)
        let scale = spec.softmaxScale(headDim: d)
        var out = [Double](repeating: 0, count: s.queryHeads * n * tiles)
        out.withUnsafeMutableBufferPointer { ob in
            let base = ob.baseAddress!
            DispatchQueue.concurrentPerform(iterations: s.queryHeads * n) { r in
                let h = r / n, i = r % n, kvh = s.kvHead(forQueryHead: h)
                let qo = x.qOffset(token: i, head: h)
                var logits = [Double](repeating: 0, count: i + 1)
                var mx = -Double.infinity
                for j in 0...i {
                    let ko = x.kOffset(token: j, kvHead: kvh)
                    var dot = 0.0
                    for t in 0..<d { dot += Double(x.q[qo + t]) * Double(x.k[ko + t]) }
                    logits[j] = dot * scale; mx = max(mx, logits[j])
                }
                var total = 0.0
                for j in 0...i { logits[j] = Foundation.exp(logits[j] - mx); total += logits[j] }
                let row = base + r * tiles
                for j in 0...i { row[j / 64] += logits[j] / total }
            }
        }
        return out
    }
}
