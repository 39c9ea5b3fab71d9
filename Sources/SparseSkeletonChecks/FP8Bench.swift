import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// `gpu-bench --fp8`: the hopper kernel's FP8 build beside its bf16/fp16 build on the same inputs and masks
/// (d 128, 128×128 tiles, the tiles the FP8 kernel takes): dense; strided masks; and, with ε, the GPU
/// estimator's own masks on generated structured Q/K (its 128×64 masks widened to 128-key tiles). The
/// quantisation is timed apart. Output error of FP8 against our 16-bit output is reported where N ≤ 32K.
public enum FP8Bench {
    public static func run(bench: AttentionBench, tokens n: Int, heads: Int, kvHeads: Int, dtype: DType, densities: [Double],
                           epsilon: Double?, budgets: [Double]) throws {
        let s = bench.s, d = 128
        let shape = try AttentionShape(tokens: n, queryHeads: heads, kvHeads: kvHeads, headDim: d)
        let qCount = n * heads * d, kvCount = n * kvHeads * d
        let q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer
        var inputs = "device random fill"
        if epsilon != nil {  // structured inputs: the estimator's masks mean something on them
            let (hq, hk, hv) = try EstimatedMaskBench.generate(tokens: n, heads: heads, kvHeads: kvHeads, headDim: d, dtype: dtype, log: bench.log)
            q = try s.upload(hq); k = try s.upload(hk); v = try s.upload(hv)
            inputs = "generated structured Q/K/V"
        } else {
            q = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
            k = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
            v = try DeviceBuffer(device: s.device, byteCount: kvCount * 2)
            try s.fill.random(q, count: qCount, dtype: dtype, seed: 11, scale: 1, stream: s.stream)
            try s.fill.random(k, count: kvCount, dtype: dtype, seed: 22, scale: 1, stream: s.stream)
            try s.fill.random(v, count: kvCount, dtype: dtype, seed: 33, scale: 1, stream: s.stream)
        }
        let o8 = try DeviceBuffer(device: s.device, byteCount: qCount * 2), o16 = try DeviceBuffer(device: s.device, byteCount: qCount * 2)
        let lse = try DeviceBuffer(device: s.device, byteCount: n * heads * 4)
        let x = try FP8AttentionInputs(device: s.device, shape: shape)
        let quantizer = FP8Quantizer(library: s.library)
        // SK_FP8_FMA_EXP (e.g. "0,3"): the FMA-pipe exponential shares timed side by side; default: the traits' default
        let shares = (ProcessInfo.processInfo.environment["SK_FP8_FMA_EXP"] ?? "0").split(separator: ",").compactMap { Int($0) }
        let t8s = shares.compactMap { FlashKernelTraits.hopper(headDim: d, blockN: 128, dtype: dtype, fp8: true, fmaExp: $0) }
        guard !t8s.isEmpty, t8s.count == shares.count, let t16 = FlashKernelTraits.hopper(headDim: d, blockN: 128, dtype: dtype) else {
            throw CUDAError.unsupported("no hopper kernel for d 128 with 128-key tiles (FMA exponential shares \(shares): 0–8)")
        }
        try quantizer.quantize(q: q, k: k, v: v, dtype: dtype, into: x, stream: s.stream)
        try s.stream.synchronize()
        let tq = try bench.time { try quantizer.quantize(q: q, k: k, v: v, dtype: dtype, into: x, stream: s.stream) }

        func error() throws -> Double? {  // ‖O8 − O16‖ / ‖O16‖ where the host copy stays small
            guard n <= 32 * 1024 else { return nil }
            let a = try s.downloadFloats(o8, count: qCount, dtype: dtype), b = try s.downloadFloats(o16, count: qCount, dtype: dtype)
            return FP8Check.relativeError(a, b).rel
        }
        func pair(mode: String, label: String, mask: DeviceBlockMask?, pairs: Int, density: Double) throws {
            let flops = 4.0 * Double(d) * Double(pairs)
            let t16t = try bench.time { try s.attention.forward(shape: shape, traits: t16, q: q, k: k, v: v, o: o16, lse: lse, mask: mask, stream: s.stream) }
            var timed = [(t16, t16t, "")]
            for t8 in t8s {
                let t8t = try bench.time { try s.attention.forwardFP8(traits: t8, inputs: x, o: o8, lse: lse, mask: mask, stream: s.stream) }
                try s.stream.synchronize()
                let err = try error()
                timed.append((t8, t8t, "; FP8 ÷ 16-bit time \((t8t.median / t16t.median).f(3))" + (err.map { "; FP8 vs 16-bit output rel err \($0.sci)" } ?? "")))
            }
            for (traits, t, extra) in timed {
                let note = "\(label); \(inputs); quantise \(tq.median.f(3)) ms" + extra
                let rec = BenchRecord(impl: "ours", variant: traits.description, mode: mode, tokens: n, heads: heads, kvHeads: kvHeads, headDim: d,
                                      dtype: traits.fp8 ? "e4m3" : dtype.rawValue, density: density, usefulFlops: flops, msMedian: t.median, msMin: t.min,
                                      reps: t.reps, tflops: flops / (t.median * 1e9), peakBytes: 0, note: note)
                bench.records.append(rec); bench.report(rec)
            }
        }
        let denseGeometry = try TileGeometry(tokens: n, queryTile: 128, keyTile: 128)
        try pair(mode: "fp8-dense", label: "dense causal", mask: nil, pairs: n * (n + 1) / 2 * heads, density: 1)
        for density in densities {
            let m = StridedMask(geometry: denseGeometry, heads: heads, density: density)
            let dm = try DeviceBlockMask(device: s.device, geometry: denseGeometry, heads: heads, rowOffsets: m.offsets, keyBlocks: m.indices,
                                         computedPairs: m.computedPairs, validate: false)
            try pair(mode: "fp8-sparse", label: "strided mask, asked \(density)", mask: dm, pairs: m.computedPairs, density: try dm.stats().density)
        }
        guard let epsilon else { return }
        let estimator = GPUSkeletonEstimator(library: s.library)
        let g64 = try TileGeometry(tokens: n, queryTile: 128, keyTile: 64)
        for target in [MaskTarget.errorBound(epsilon: epsilon)] + budgets.map({ MaskTarget.density($0) }) {
            let r = try estimator.estimate(q: q, k: k, shape: shape, dtype: dtype, geometry: g64, target: target, stream: s.stream)
            try s.stream.synchronize()
            let wide = try r.mask.download().widenedKeyTiles(by: 2)
            let dm = try DeviceBlockMask(device: s.device, mask: wide)
            let label: String
            switch target {
            case .errorBound(let e): label = "estimator's mask, ε \(e), widened to 128-key tiles"
            case .density(let x): label = "estimator's mask, budget \(x), widened to 128-key tiles"
            case .timeBudget(let ms): label = "estimator's mask, time budget \(ms) ms, widened"
            }
            try pair(mode: "fp8-estimated", label: label, mask: dm, pairs: wide.computedPairs, density: wide.density)
        }
    }
}
