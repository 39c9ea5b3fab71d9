import Dispatch
import Foundation

/// Seeded synthetic Q/K/V with the structures sparse attention relies on. **This is NOT real data**:
/// no model produced it; it is a controlled stand-in for tests and benchmarks whose planted
/// structure is known. Use captured Q/K/V of a real model to judge mask quality for real.
///
/// Construction. Each token t gets position-free vectors q̃_t (per query head) and k̃_t (per KV
/// head) built from components on disjoint groups of the d/2 RoPE pairs, plus Gaussian noise; then
/// real RoPE (rotate-half layout, `ropeBase`) rotates them to q_t = R(t)q̃_t, k_t = R(t)k̃_t, so each
/// planted score depends on the offset i − j exactly as RoPE makes it. Amplitudes are in logits
/// (contribution to q·k/√d at the peak):
/// 1. **Sinks** — keys 0..<sinkTokens carry a shared direction u in the two lowest-frequency pairs;
///    every query carries λ_sink·u, so every query attends to them (the score decays slowly with
///    distance, as cos(θ_min·Δ), as in real models).
/// 2. **Salient ("vertical") tokens** — `salientTokens` random later keys carry u at 0.5–0.9 of the
///    sink strength: columns that every query visits.
/// 3. **Local band** — queries and keys share one direction w over the high-frequency half of the
///    pairs (minus the slash pair); Σ_c |w_c|²·cos(θ_c·Δ) peaks at Δ = 0 and decays within tens of
///    tokens, leaving a ripple of about λ/√(d/4) logits far away.
/// 4. **Periodic slash lines** — in the high-frequency pair whose period 2π/θ_c is closest to
///    `slashPeriod`, keys
///    carry b and queries R(−Δ₀)b, so scores peak at i − j = Δ₀ + m·P (P the pair's period; Δ₀ drawn
///    per KV head).
/// 5. **Clustered content** — the sequence is cut into topic segments (mean `meanSegment` tokens),
///    each drawn from `clusters` shared centroids; a token's query and key lie around its segment's
///    centroid (the low-frequency half of the pairs), so queries attend to far-away keys of the same topic. V carries a
///    per-cluster mean too.
/// Per-head variety: query head h uses profile h mod 4 — 0 sink+local (concentrated), 1 slash,
/// 2 content, 3 diffuse (all amplitudes × 0.25) — with amplitudes jittered ±20% per head.
///
/// Reproducible: the same config gives the same bits (xoshiro256** streams per 512-token chunk,
/// independent of thread count). Output is [N, heads, d] in the requested dtype (rounded).
public struct StructuredAttentionGenerator: Sendable {
    public struct Config: Sendable, Equatable {
        public var tokens: Int
        public var queryHeads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var dtype: DType
        public var seed: UInt64
        public var ropeBase: Double
        public var sinkTokens: Int
        public var salientTokens: Int
        public var slashPeriod: Int
        public var clusters: Int
        public var meanSegment: Int

        public init(tokens: Int, queryHeads: Int = 9, kvHeads: Int = 3, headDim: Int = 64, dtype: DType = .f32,
                    seed: UInt64 = 0, ropeBase: Double = 10_000, sinkTokens: Int = 4, salientTokens: Int = 8,
                    slashPeriod: Int = 256, clusters: Int = 16, meanSegment: Int = 256) {
            self.tokens = tokens; self.queryHeads = queryHeads; self.kvHeads = kvHeads; self.headDim = headDim
            self.dtype = dtype; self.seed = seed; self.ropeBase = ropeBase; self.sinkTokens = sinkTokens
            self.salientTokens = salientTokens; self.slashPeriod = slashPeriod; self.clusters = clusters
            self.meanSegment = meanSegment
        }
    }

    /// Noise of the position-free keys per dim. Small, because a query's planted amplitude λ
    /// multiplies it: the logit noise it causes is λ·σ_k/d^¼ (0.5 logits for λ = 9, d = 64).
    static let keyNoise = 0.15

    /// Logit amplitudes of one query head; `noise` is the query's per-dim Gaussian σ.
    struct HeadProfile {
        var sink: Double, local: Double, slash: Double, content: Double, noise: Double
        static let base: [HeadProfile] = [
            HeadProfile(sink: 10, local: 5, slash: 2, content: 2, noise: 1),   // concentrated: sinks + local
            HeadProfile(sink: 6, local: 3, slash: 7, content: 2, noise: 1),    // slash lines
            HeadProfile(sink: 5, local: 3, slash: 1, content: 6, noise: 1),    // content / topic
            HeadProfile(sink: 2.5, local: 1.25, slash: 1, content: 1.5, noise: 0.5),  // diffuse (≈ × 0.25, noise halved)
        ]
    }

    /// Which RoPE pairs carry which component.
    struct PairLayout {
        let sinkPairs: [Int], localPairs: [Int], slashPair: Int, contentPairs: [Int]
        let slashPeriod: Double

        init(headDim: Int, base: Double, slashPeriod: Int) {
            let pairs = headDim / 2
            let freqs = RotaryEmbedding.frequencies(headDim: headDim, base: base)
            sinkPairs = [pairs - 2, pairs - 1]
            // slash: the pair of the high-frequency half whose period is closest to the request;
            // local: the rest of that half (many pairs, so Σ cos(θ_c·Δ) is sharp at Δ = 0 and its
            // far-away ripple averages out); content: the low-frequency half minus the sink pairs,
            // where topic similarity survives long distances instead of being scrambled by rotation.
            let high = Array(1..<(pairs / 2))
            let target = 2 * Double.pi / Double(slashPeriod)
            let slash = high.min { abs(log(freqs[$0] / target)) < abs(log(freqs[$1] / target)) } ?? 1
            slashPair = slash
            self.slashPeriod = 2 * Double.pi / freqs[slash]
            localPairs = Array(0..<(pairs / 2)).filter { $0 != slash }
            contentPairs = Array((pairs / 2)..<(pairs - 2))
        }
    }

    public let config: Config
    public let shape: AttentionShape

    public init(_ config: Config) throws {
        shape = try AttentionShape(tokens: config.tokens, queryHeads: config.queryHeads, kvHeads: config.kvHeads, headDim: config.headDim)
        guard config.sinkTokens >= 0, config.sinkTokens <= config.tokens else {
            throw SkeletonError.invalidArgument("sink tokens must be in 0...\(config.tokens), got \(config.sinkTokens)")
        }
        guard config.salientTokens >= 0 else { throw SkeletonError.invalidArgument("salient tokens must be ≥ 0, got \(config.salientTokens)") }
        guard config.slashPeriod >= 2 else { throw SkeletonError.invalidArgument("slash period must be ≥ 2, got \(config.slashPeriod)") }
        guard config.clusters >= 1 else { throw SkeletonError.invalidArgument("clusters must be ≥ 1, got \(config.clusters)") }
        guard config.meanSegment >= 1 else { throw SkeletonError.invalidArgument("mean segment must be ≥ 1, got \(config.meanSegment)") }
        guard config.ropeBase > 1, config.ropeBase.isFinite else {
            throw SkeletonError.invalidArgument("RoPE base must be > 1, got \(config.ropeBase)")
        }
        self.config = config
    }

    /// Q [N, Hq, d], K and V [N, Hkv, d], named "q", "k", "v".
    public func generate() throws -> (q: HeadTensor, k: HeadTensor, v: HeadTensor) {
        let c = config, d = c.headDim, n = c.tokens
        let layout = PairLayout(headDim: d, base: c.ropeBase, slashPeriod: c.slashPeriod)
        var global = Xoshiro256StarStar(seed: c.seed)
        let quarterRootD = Foundation.pow(Double(d), 0.25)   // q·k/√d = (λ·d^¼)(d^¼)/√d = λ

        // Shared directions (unit vectors in their pairs' dims).
        func unit(_ pairs: [Int], firstOnly: Bool = false) -> [Double] {
            var v = [Double](repeating: 0, count: d)
            for p in pairs { v[p] = global.gaussian(); if !firstOnly { v[p + d / 2] = global.gaussian() } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / max(norm, 1e-12) }
        }
        let u = unit(layout.sinkPairs)
        let w = unit(layout.localPairs)
        let centroids = (0..<c.clusters).map { _ in unit(layout.contentPairs) }
        let valueMeans = (0..<c.clusters).map { _ in (0..<d).map { _ in global.gaussian() } }

        // Topic segments: cluster of each token.
        var cluster = [Int](repeating: 0, count: n)
        var t = 0
        while t < n {
            let length = 1 + Int(global.uniform() * Double(2 * c.meanSegment - 1))
            let id = Int(global.next() % UInt64(c.clusters))
            for i in t..<min(n, t + length) { cluster[i] = id }
            t += length
        }
        // Key-side strength along u: sinks 1, salient tokens 0.5–0.9.
        var vertical = [Double](repeating: 0, count: n)
        for i in 0..<c.sinkTokens { vertical[i] = 1 }
        if n > c.sinkTokens {
            for _ in 0..<c.salientTokens {
                let pos = c.sinkTokens + Int(global.next() % UInt64(n - c.sinkTokens))
                vertical[pos] = max(vertical[pos], 0.5 + 0.4 * global.uniform())
            }
        }
        // Per query head amplitudes, per KV head slash phase Δ₀.
        let profiles = (0..<c.queryHeads).map { h -> HeadProfile in
            var p = HeadProfile.base[h % 4]
            let jitter = { 0.8 + 0.4 * global.uniform() }
            p.sink *= jitter(); p.local *= jitter(); p.slash *= jitter(); p.content *= jitter()
            return p
        }
        let slashPhase = (0..<c.kvHeads).map { _ in 16 + global.uniform() * max(1, layout.slashPeriod - 16) }
        let freqs = RotaryEmbedding.frequencies(headDim: d, base: c.ropeBase)
        let sp = layout.slashPair, half = d / 2

        var q = [Float](repeating: 0, count: n * c.queryHeads * d)
        var k = [Float](repeating: 0, count: n * c.kvHeads * d)
        var v = [Float](repeating: 0, count: n * c.kvHeads * d)
        let chunk = 512
        let chunks = (n + chunk - 1) / chunk
        q.withUnsafeMutableBufferPointer { qb in
            k.withUnsafeMutableBufferPointer { kb in
                v.withUnsafeMutableBufferPointer { vb in
                    let qp = SharedPointer(qb.baseAddress!), kp = SharedPointer(kb.baseAddress!), vp = SharedPointer(vb.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: chunks) { ci in
                        var rng = Xoshiro256StarStar(seed: c.seed, stream: UInt64(ci))
                        var x = [Double](repeating: 0, count: d)
                        for t in (ci * chunk)..<min(n, (ci + 1) * chunk) {
                            let centroid = centroids[cluster[t]]
                            for g in 0..<c.kvHeads {
                                // key: u·vertical + w + b (slash pair, first dim) + centroid, all × d^¼, + noise
                                for e in 0..<d {
                                    x[e] = quarterRootD * (vertical[t] * u[e] + w[e] + centroid[e]) + Self.keyNoise * rng.gaussian()
                                }
                                x[sp] += quarterRootD
                                let kOut = kp.base + (t * c.kvHeads + g) * d
                                for e in 0..<d { kOut[e] = Float(x[e]) }
                                RotaryEmbedding.rotate(kOut, headDim: d, position: t, frequencies: freqs)
                                let vOut = vp.base + (t * c.kvHeads + g) * d
                                let vm = valueMeans[cluster[t]]
                                for e in 0..<d { vOut[e] = Float(0.5 * vm[e] + rng.gaussian()) }
                            }
                            for h in 0..<c.queryHeads {
                                let p = profiles[h]
                                let g = h / (c.queryHeads / c.kvHeads)
                                for e in 0..<d {
                                    x[e] = quarterRootD * (p.sink * u[e] + p.local * w[e] + p.content * centroid[e])
                                        + p.noise * rng.gaussian()
                                }
                                // query slash part R(−Δ₀)·b with b = e_sp: peaks at i − j = Δ₀ (mod period)
                                let angle = -slashPhase[g] * freqs[sp]
                                x[sp] += quarterRootD * p.slash * Foundation.cos(angle)
                                x[sp + half] += quarterRootD * p.slash * Foundation.sin(angle)
                                let qOut = qp.base + (t * c.queryHeads + h) * d
                                for e in 0..<d { qOut[e] = Float(x[e]) }
                                RotaryEmbedding.rotate(qOut, headDim: d, position: t, frequencies: freqs)
                            }
                        }
                    }
                }
            }
        }
        return (try HeadTensor(name: "q", tokens: n, heads: c.queryHeads, headDim: d, values: q, dtype: c.dtype),
                try HeadTensor(name: "k", tokens: n, heads: c.kvHeads, headDim: d, values: k, dtype: c.dtype),
                try HeadTensor(name: "v", tokens: n, heads: c.kvHeads, headDim: d, values: v, dtype: c.dtype))
    }

    /// The generated tensors as validated attention inputs (values as stored, i.e. after dtype rounding).
    public func inputs() throws -> AttentionInputs {
        let (q, k, v) = try generate()
        return try AttentionInputs(q: q, k: k, v: v)
    }

    /// The actual period (in tokens) of the planted slash lines: the chosen RoPE pair's 2π/θ.
    public var slashPeriodTokens: Double {
        PairLayout(headDim: config.headDim, base: config.ropeBase, slashPeriod: config.slashPeriod).slashPeriod
    }
}
