import Dispatch
import SparseSkeleton
import SparseSkeletonCUDA

/// The method end to end on the GPU kernel: structured **generated** Q/K/V (the core's
/// StructuredAttentionGenerator — not real data), our skeleton estimator's error-bound mask
/// (ε), then dense and masked attention on the GPU. Reports estimation time (CPU: there is no
/// GPU port of the estimator yet), kernel times, the speed-up over our dense kernel, and the
/// output error of the sparse result against the dense one (both from the GPU kernel).
enum EstimatedMaskBench {
    struct Result {
        let tokens: Int
        let epsilon: Double
        let estimateMs: Double
        let density: Double
        let denseMs: Double
        let sparseMs: Double
        let relError: Double
        let record: BenchRecord
    }

    /// Generates and estimates on the host (no GPU needed), returning the inputs and the mask.
    static func prepare(tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType, tiles: (Int, Int), epsilon: Double,
                        log: (String) -> Void) throws -> (q: HeadTensor, k: HeadTensor, v: HeadTensor, mask: BlockMask, estimateMs: Double) {
        let gen = try StructuredAttentionGenerator(.init(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype, seed: 7))
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (q, k, v) = try gen.generate()
        let inputs = try AttentionInputs(q: q, k: k, v: nil)
        let t1 = DispatchTime.now().uptimeNanoseconds
        log("generated structured Q/K/V N=\(n) \(heads)/\(kvHeads) d=\(d) in \(fixed(Double(t1 - t0) / 1e6, 0)) ms")
        let geometry = try TileGeometry(tokens: n, queryTile: tiles.0, keyTile: tiles.1)
        let est = try SkeletonEstimator().estimate(inputs, geometry: geometry, target: .errorBound(epsilon: epsilon))
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e6
        log("skeleton estimate ε=\(epsilon) on the CPU: \(fixed(ms, 0)) ms, density \(fixed(est.mask.density, 4))")
        return (q, k, v, est.mask, ms)
    }

    static func run(session s: GPUSession, tokens n: Int, heads: Int, kvHeads: Int, headDim d: Int, dtype: DType, tiles: (Int, Int),
                    epsilon: Double, bench: AttentionBench) throws -> Result {
        let p = try prepare(tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype, tiles: tiles, epsilon: epsilon, log: bench.log)
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        let traits = try FlashKernelTraits.default(headDim: d, geometry: p.mask.geometry, dtype: dtype)
        let qd = try s.upload(p.q), kd = try s.upload(p.k), vd = try s.upload(p.v)
        let count = n * heads * d
        let oDense = try DeviceBuffer(device: s.device, byteCount: count * 2), oSparse = try DeviceBuffer(device: s.device, byteCount: count * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
        let dm = try DeviceBlockMask(device: s.device, mask: p.mask)
        let td = try bench.time { try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oDense, lse: lse, mask: nil, stream: s.stream) }
        let ts = try bench.time { try s.attention.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: oSparse, lse: lse, mask: dm, stream: s.stream) }
        let a = try s.downloadFloats(oDense, count: count, dtype: dtype), b = try s.downloadFloats(oSparse, count: count, dtype: dtype)
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x) }
        let rel = (num / max(den, 1e-30)).squareRoot()
        let st = try dm.stats()
        let flops = 4.0 * Double(d) * Double(st.computedPairs)
        let rec = BenchRecord(impl: "ours", variant: traits.description, mode: "estimated", tokens: n, heads: heads, kvHeads: kvHeads, headDim: d,
                              dtype: dtype.rawValue, density: st.density, usefulFlops: flops, msMedian: ts.median, msMin: ts.min, reps: ts.reps,
                              tflops: flops / (ts.median * 1e9), peakBytes: 0,
                              note: "skeleton eps=\(epsilon) on generated structured Q/K; CPU estimate \(fixed(p.estimateMs, 0)) ms; our dense \(fixed(td.median, 3)) ms; rel err vs dense \(rel.sci)")
        bench.records.append(rec)
        bench.log("estimated mask N=\(n): density \(fixed(st.density, 4)), sparse \(fixed(ts.median, 3)) ms vs our dense \(fixed(td.median, 3)) ms (\(fixed(td.median / ts.median, 2))x), output rel. error vs dense \(rel.sci); estimation \(fixed(p.estimateMs, 0)) ms on the CPU")
        return Result(tokens: n, epsilon: epsilon, estimateMs: p.estimateMs, density: st.density, denseMs: td.median, sparseMs: ts.median,
                      relError: rel, record: rec)
    }
}
