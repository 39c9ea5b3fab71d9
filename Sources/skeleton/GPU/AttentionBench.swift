import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// One timed configuration of `gpu-bench`.
struct BenchRecord: Codable {
    var impl: String          // "ours"
    var variant: String       // kernel traits
    var mode: String          // "dense" or "sparse"
    var tokens: Int
    var heads: Int
    var kvHeads: Int
    var headDim: Int
    var dtype: String
    var density: Double       // kept causal tiles / causal tiles
    var usefulFlops: Double   // 4 · d · computed causal pairs (all heads)
    var msMedian: Double
    var msMin: Double
    var reps: Int
    var tflops: Double        // usefulFlops / median time
    var peakBytes: Int        // device memory in use at the peak, above what was in use before
    var note: String
}

/// Times our kernels with CUDA events: warm-up, then repeated launches, median.
/// Inputs are device-generated random data (never zeros); at every benchmarked size Q, K, V
/// and O together exceed the 50 MB L2, so repeated runs do not measure the cache.
final class AttentionBench {
    let s: GPUSession
    let secondsPerMeasurement: Double
    var records: [BenchRecord] = []
    var log: (String) -> Void

    init(session: GPUSession, secondsPerMeasurement: Double, log: @escaping (String) -> Void) {
        s = session; self.secondsPerMeasurement = secondsPerMeasurement; self.log = log
    }

    /// Median / min milliseconds of `body` (one kernel launch), at least 1 and at most 50 reps
    /// within the time budget; warm-up skipped when one run already exceeds the budget.
    func time(_ body: () throws -> Void) throws -> (median: Double, min: Double, reps: Int) {
        let start = try GPUEvent(device: s.device), stop = try GPUEvent(device: s.device)
        func once() throws -> Double {
            try start.record(on: s.stream); try body(); try stop.record(on: s.stream)
            try stop.synchronize()
            return try stop.milliseconds(since: start)
        }
        let first = try once()  // warm-up (module already loaded by the caller)
        if first / 1000 > secondsPerMeasurement { return (first, first, 1) }
        let reps = max(3, min(50, Int(secondsPerMeasurement * 1000 / max(first, 1e-3))))
        var t: [Double] = []
        for _ in 0..<reps { t.append(try once()) }
        t.sort()
        return (t[t.count / 2], t[0], reps)
    }

    /// Dense and sparse timings for one shape. `densities` empty = dense only.
    func run(tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType, geometryTiles: (Int, Int),
             densities: [Double], extraVariants: [FlashKernelTraits]) throws {
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        try s.device.synchronize()
        let baseline = try s.device.memoryInfo()
        let inUseBefore = baseline.total - baseline.free
        let qCount = n * heads * d, kvCount = n * kvHeads * d
        let q = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
        let k = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
        let v = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
        let o = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
        try s.fill.random(q, count: qCount, dtype: dtype, seed: 11, scale: 1, stream: s.stream)
        try s.fill.random(k, count: kvCount, dtype: dtype, seed: 22, scale: 1, stream: s.stream)
        try s.fill.random(v, count: kvCount, dtype: dtype, seed: 33, scale: 1, stream: s.stream)
        try s.stream.synchronize()
        func peak() throws -> Int { let m = try s.device.memoryInfo(); return m.total - m.free - inUseBefore }

        let geometry = try TileGeometry(tokens: n, queryTile: geometryTiles.0, keyTile: geometryTiles.1)
        let denseFlops = 4.0 * Double(d) * Double(n) * Double(n + 1) / 2 * Double(heads)
        let mainTraits = try FlashKernelTraits(headDim: d, blockM: geometryTiles.0, blockN: geometryTiles.1, dtype: dtype)
        for traits in [mainTraits] + extraVariants {
            _ = try s.attention.kernel(traits)
            let t = try time { try s.attention.forward(shape: shape, traits: traits, q: q, k: k, v: v, o: o, lse: lse, mask: nil, stream: s.stream) }
            let occ = (try? s.attention.kernel(traits).blocksPerMultiprocessor()) ?? 0
            let rec = BenchRecord(impl: "ours", variant: traits.description, mode: "dense", tokens: n, heads: heads, kvHeads: kvHeads,
                                  headDim: d, dtype: dtype.rawValue, density: 1, usefulFlops: denseFlops, msMedian: t.median, msMin: t.min,
                                  reps: t.reps, tflops: denseFlops / (t.median * 1e9), peakBytes: try peak(),
                                  note: "\(try s.attention.kernel(traits).compiled.report.registers) regs, \(occ) blocks/SM")
            records.append(rec); report(rec)
        }
        for density in densities {
            let m = StridedMask(geometry: geometry, heads: heads, density: density)
            let dm = try DeviceBlockMask(device: s.device, geometry: geometry, heads: heads, rowOffsets: m.offsets, keyBlocks: m.indices,
                                         computedPairs: m.computedPairs, validate: false)
            let t = try time { try s.attention.forward(shape: shape, traits: mainTraits, q: q, k: k, v: v, o: o, lse: lse, mask: dm, stream: s.stream) }
            let flops = 4.0 * Double(d) * Double(m.computedPairs)
            let rec = BenchRecord(impl: "ours", variant: mainTraits.description, mode: "sparse", tokens: n, heads: heads, kvHeads: kvHeads,
                                  headDim: d, dtype: dtype.rawValue, density: dm.density, usefulFlops: flops, msMedian: t.median, msMin: t.min,
                                  reps: t.reps, tflops: flops / (t.median * 1e9), peakBytes: try peak(), note: "strided mask, asked \(density)")
            records.append(rec); report(rec)
        }
    }

    func report(_ r: BenchRecord) {
        log("ours \(r.mode) N=\(r.tokens) d=\(r.headDim) \(r.variant) density \(r.density.f(3)): \(r.msMedian.f(3)) ms (min \(r.msMin.f(3)), \(r.reps) reps) \(r.tflops.f(1)) TFLOP/s, peak \(formatBytes(r.peakBytes)) [\(r.note)]")
    }
}
