import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// One windowed / scaled case of `gpu-check`: a kernel variant with an `AttentionSpec` (window,
/// scale) on seeded random inputs against a float64 reference of sampled rows.
public struct AttentionSpecCheckCase: Sendable, CustomStringConvertible {
    let dtype: DType
    let tokens: Int
    let queryHeads: Int
    let kvHeads: Int
    let traits: FlashKernelTraits
    /// `.full`: the dense path (no CSR); `.sparse`: `AttentionCheck.randomMask`.
    let mask: AttentionCheck.Case.MaskKind
    let spec: AttentionSpec
    /// Persistent kernels: at most this many CTAs, so each walks many (query block, head) items.
    var gridCap: Int? = nil

    public var description: String {
        "\(traits) N=\(tokens) heads \(queryHeads)/\(kvHeads) \(mask == .full ? "dense" : "sparse CSR") [\(spec)]" + (gridCap.map { " grid≤\($0)" } ?? "")
    }

    /// Largest relative error allowed on the sampled rows: ‖O − ref‖ / ‖ref‖ (as `AttentionCheckCase`).
    public var tolerance: Double { dtype == .bf16 ? 1e-2 : 5e-3 }
}

public struct AttentionSpecCheckResult: Sendable {
    public let relError: Double
    public let lseMaxAbsError: Double
    /// NaN outputs anywhere in O (poisoned first, so also unwritten ones) and NaN LSE entries.
    public let nanCount: Int
    public let unwrittenLSE: Int
    public let sampledRows: Int
    public let density: Double
    public let ok: Bool
}

public enum AttentionSpecCheck {
    /// Windows 512 (d 64/128/256) and 4096 (d 128); the default and a larger scale; MHA 4/4 and
    /// GQA 8/2; dense and a random CSR mask; bf16 and fp16; N not a multiple of the tile; both
    /// kernel families (the default kernel — wgmma on sm_90a — and the mma.sync one), query tiles
    /// 128 and 64, persistent grids capped so that each CTA walks several items.
    /// The default cases (the swift-testing matrix's arguments).
    public static var cases: [AttentionSpecCheckCase] { (try? defaultCases()) ?? [] }

    public static func defaultCases() throws -> [AttentionSpecCheckCase] {
        var cases: [AttentionSpecCheckCase] = []
        var i = 0
        // case i's dtype, heads, scale, tile and N from different bits of i: every pair of choices
        // (kernel family, mask, dtype, heads, scale, tile) occurs
        func add(window: Int, d: Int, mma: Bool, mask: AttentionCheck.Case.MaskKind) throws {
            let dtype: DType = i % 2 == 0 ? .bf16 : .f16
            let (hq, hkv) = (i / 2 + i / 4) % 2 == 0 ? (4, 4) : (8, 2)
            let scale: Double? = (i + i / 2 + i / 8) % 2 == 0 ? nil : 1.3 / Double(d).squareRoot()
            let tile = (i / 3) % 2 == 0 ? 128 : 64
            let tokens = window == 512 ? ((i / 2 + i / 3) % 2 == 0 ? 4500 : 1300) : ((i / 2) % 2 == 0 ? 4500 : 8300)
            let g = try TileGeometry(tokens: tokens, queryTile: tile, keyTile: 64)
            let traits = mma ? try FlashKernelTraits.mmaDefault(headDim: d, geometry: g, dtype: dtype)
                             : try FlashKernelTraits.default(headDim: d, geometry: g, dtype: dtype)
            cases.append(AttentionSpecCheckCase(dtype: dtype, tokens: tokens, queryHeads: hq, kvHeads: hkv, traits: traits, mask: mask,
                                                spec: AttentionSpec(window: window, scale: scale), gridCap: traits.persistent ? 5 : nil))
            i += 1
        }
        for d in [64, 128, 256] {
            for mma in [false, true] {
                for mask in [AttentionCheck.Case.MaskKind.full, .sparse] {
                    try add(window: 512, d: d, mma: mma, mask: mask)
                }
            }
        }
        for mma in [false, true] {
            for mask in [AttentionCheck.Case.MaskKind.full, .sparse] {
                for _ in 0..<2 { try add(window: 4096, d: 128, mma: mma, mask: mask) }
            }
        }
        return cases
    }

    /// Runs the cases whose description contains `filter`, one table row each and the pass
    /// count; returns (ran, failed).
    public static func runAll(session s: GPUSession, seed: UInt64, filter: String?,
                              log: (String) -> Void = { print($0) }) throws -> CheckSummary {
        log("windowed / scaled attention (float64 reference on sampled rows):")
        log("case | kept | rows | rel.err | tol | LSE max|err| | NaN | verdict")
        var ran = 0, failed = 0
        for (i, c) in try defaultCases().enumerated() {
            if let f = filter, !c.description.contains(f) { continue }
            ran += 1
            do {
                let r = try run(c, session: s, seed: seed &+ 104_729 &+ UInt64(i) &* 7919)
                if !r.ok { failed += 1 }
                log("\(c) | \(r.density.f(2)) | \(r.sampledRows) | \(r.relError.sci) | \(c.tolerance.sci) | \(r.lseMaxAbsError.sci) | \(r.nanCount + r.unwrittenLSE) | \(r.ok ? "ok" : "FAIL")")
            } catch {
                failed += 1
                log("\(c) | error: \(error) | FAIL")
            }
        }
        log("gpu-check (spec): \(ran - failed)/\(ran) windowed/scaled cases passed")
        var sum = CheckSummary()
        sum.ran = ran; sum.failed = failed
        return sum
    }

    /// Query rows checked (per head): the first rows, rows around the tile boundaries, rows where
    /// the window first cuts keys off (window ± 2) and tile boundaries past it, the last rows, and
    /// 160 random ones.
    static func sampleRows(tokens n: Int, window w: Int, rng: inout SplitMix64) -> [Int] {
        var rows = Set<Int>([0, 1, 2, 63, 64, 65, 127, 128, 129, n - 65, n - 64, n - 2, n - 1])
        for base in [w, w + 63, w + 64, w + 127, w + 128, 2 * w, 2 * w + 100] {
            for delta in -2...2 { rows.insert(base + delta) }
        }
        for _ in 0..<160 { rows.insert(Int.random(in: 0..<n, using: &rng)) }
        return rows.filter { $0 >= 0 && $0 < n }.sorted()
    }

    public static func run(_ c: AttentionSpecCheckCase, session s: GPUSession, seed: UInt64) throws -> AttentionSpecCheckResult {
        var rng = SplitMix64(seed: seed)
        let shape = try AttentionShape(tokens: c.tokens, queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.traits.headDim)
        let d = shape.headDim, n = shape.tokens
        // the generator and scales of AttentionCheck: logits with a standard deviation near 2
        let q = try HeadTensor.roughNormal(name: "Q", tokens: n, heads: shape.queryHeads, headDim: d, dtype: c.dtype, scale: 1.2, rng: &rng)
        let k = try HeadTensor.roughNormal(name: "K", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: 1.2, rng: &rng)
        let v = try HeadTensor.roughNormal(name: "V", tokens: n, heads: shape.kvHeads, headDim: d, dtype: c.dtype, scale: 1, rng: &rng)
        let inputs = try AttentionInputs(q: q, k: k, v: v)  // the rounded values: GPU and CPU see the same numbers
        let geometry = try TileGeometry(tokens: n, queryTile: c.traits.blockM, keyTile: c.traits.blockN)
        let hostMask: BlockMask? = c.mask == .full ? nil : try AttentionCheck.randomMask(geometry: geometry, heads: shape.queryHeads, rng: &rng)

        let qd = try s.upload(q), kd = try s.upload(k), vd = try s.upload(v)
        let outCount = n * shape.queryHeads * d
        let o = try DeviceBuffer(device: s.device, byteCount: outCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * shape.queryHeads * 4)
        let deviceMask = try hostMask.map { try DeviceBlockMask(device: s.device, mask: $0) }
        s.attention.persistentGridCap = c.gridCap
        defer { s.attention.persistentGridCap = nil }
        try o.fill8(0xFF)  // NaN in bf16 and fp16: every element must be overwritten
        try lse.fill32(0x7FC0_0000)  // Float NaN
        try s.attention.forward(shape: shape, traits: c.traits, q: qd, k: kd, v: vd, o: o, lse: lse, mask: deviceMask, spec: c.spec, stream: s.stream)
        try s.stream.synchronize()
        let out = try s.downloadFloats(o, count: outCount, dtype: c.dtype)
        let lseOut = try lse.download(Float.self, count: n * shape.queryHeads)

        let nan = out.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        let unwritten = lseOut.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        let rows = sampleRows(tokens: n, window: c.spec.window ?? n, rng: &rng)
        var num = 0.0, den = 0.0, lseErr = 0.0
        for h in 0..<shape.queryHeads {
            for i in rows {
                let ref = WindowedReferenceRow(inputs, head: h, query: i, spec: c.spec) { j in
                    hostMask?.contains(head: h, queryBlock: i / geometry.queryTile, keyBlock: j / geometry.keyTile) ?? true
                }
                for x in 0..<d {
                    let g = out[(i * shape.queryHeads + h) * d + x]
                    if g.isNaN { continue }
                    num += (Double(g) - ref.output[x]) * (Double(g) - ref.output[x]); den += ref.output[x] * ref.output[x]
                }
                let g = lseOut[h * n + i]
                if g.isNaN { continue }
                if ref.logSumExp == -.infinity || g == -.infinity {
                    if Double(g) != ref.logSumExp { lseErr = .infinity }
                } else {
                    lseErr = max(lseErr, abs(Double(g) - ref.logSumExp))
                }
            }
        }
        let rel = den > 0 ? (num / den).squareRoot() : num.squareRoot()
        let ok = nan == 0 && unwritten == 0 && rel <= c.tolerance && lseErr <= 2e-2
        return AttentionSpecCheckResult(relError: rel, lseMaxAbsError: lseErr, nanCount: nan, unwrittenLSE: unwritten,
                                        sampledRows: rows.count * shape.queryHeads, density: hostMask?.density ?? 1, ok: ok)
    }
}

/// Float64 attention of one query row under `spec` (causal, window, scale) and a tile filter
/// `kept(j)` (the block mask): O = Σ p_j v_j, LSE = log Σ exp(scale · q·k_j); a row that sees no
/// key has O = 0 and LSE = −∞ (what the kernel writes).
struct WindowedReferenceRow {
    var output: [Double]
    var logSumExp: Double

    init(_ x: AttentionInputs, head h: Int, query i: Int, spec: AttentionSpec, kept: (Int) -> Bool) {
        let sh = x.shape, d = sh.headDim
        let kvHead = h / (sh.queryHeads / sh.kvHeads)
        let scale = spec.softmaxScale(headDim: d)
        let v = x.v ?? []
        var keys: [Int] = [], logits: [Double] = []
        for j in spec.firstKey(query: i)...i where spec.sees(query: i, key: j) && kept(j) {
            var dot = 0.0
            let qo = (i * sh.queryHeads + h) * d, ko = (j * sh.kvHeads + kvHead) * d
            for t in 0..<d { dot += Double(x.q[qo + t]) * Double(x.k[ko + t]) }
            keys.append(j); logits.append(dot * scale)
        }
        output = [Double](repeating: 0, count: d)
        guard let m = logits.max() else { logSumExp = -.infinity; return }
        var sum = 0.0
        for (j, s) in zip(keys, logits) {
            let p = Foundation.exp(s - m)
            sum += p
            let vo = (j * sh.kvHeads + kvHead) * d
            for t in 0..<d { output[t] += p * Double(v[vo + t]) }
        }
        for t in 0..<d { output[t] /= sum }
        logSumExp = m + Foundation.log(sum)
    }
}
