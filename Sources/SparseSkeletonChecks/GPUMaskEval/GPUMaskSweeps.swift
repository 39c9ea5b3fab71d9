import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModelCUDA

/// One GPU estimator's knob swept on a tapped layer: the masks of the sweep (downloaded), and for
/// the skeleton the calibrated ε = `promiseEpsilon` mask with its probe-estimated recall per head.
struct GPUMaskSweep {
    let name: String
    let masks: [BlockMask]
    /// Skeleton only: the calibrated error-bound mask and the estimator's own recall per head.
    var promiseMask: BlockMask? = nil
    var estimatedRecall: [Double] = []
    /// The probe stride the estimate ran with (skeleton).
    var stride: Int? = nil
    /// Device time of one estimate (CUDA events), ms.
    var estimateMs: Double = 0
}

enum GPUMaskSweeps {
    /// The GPU skeleton with `parameters`: one calibrated estimate at ε = `promiseEpsilon` (the
    /// promise), its tile masses thresholded at every ε of `FrontierRunner.epsilonGrid` (the
    /// CPU frontier's skeleton sweep, on the GPU estimator's masses).
    static func skeleton(name: String, parameters p: SkeletonParameters, layer a: GPULayerAttention, geometry g: TileGeometry,
                         library: KernelLibrary, stream: GPUStream, promiseEpsilon: Double) throws -> GPUMaskSweep {
        let e = GPUSkeletonEstimator(library: library, parameters: p)
        let e0 = try GPUEvent(device: library.device), e1 = try GPUEvent(device: library.device)
        try e0.record(on: stream)
        let r = try e.estimate(q: a.q, k: a.k, shape: a.shape, dtype: a.dtype, geometry: g, spec: a.spec,
                               target: .errorBound(epsilon: promiseEpsilon), stream: stream)
        try e1.record(on: stream)
        try stream.synchronize()
        var m = try TileMasses(geometry: g, heads: a.shape.queryHeads)
        let est = try r.tileEstimates()
        guard est.count == m.values.count else {
            throw SkeletonError.shapeMismatch("the GPU skeleton gave \(est.count) tile masses, the geometry has \(m.values.count)")
        }
        m.values = est.map(Double.init)
        let masks = try ErrorBoundThreshold.sweep(m, epsilons: FrontierRunner.epsilonGrid, alwaysKeep: p.alwaysKeep)
        return GPUMaskSweep(name: name, masks: masks, promiseMask: try r.mask.download(),
                            estimatedRecall: try r.probeRecalls().map(Double.init), stride: r.plan.stride,
                            estimateMs: try e1.milliseconds(since: e0))
    }

    /// GPU MInference at the CPU frontier's count scales (26 from 0.004 to N/1000 + 0.1).
    static func minference(layer a: GPULayerAttention, geometry g: TileGeometry, library: KernelLibrary, stream: GPUStream) throws -> GPUMaskSweep {
        let e = GPUMInferenceEstimator(library: library)
        let w = try e.makeWorkspace(shape: a.shape, geometry: g)
        let top = Double(a.shape.tokens) / 1000 + 0.1
        var masks: [BlockMask] = [], ms = 0.0
        for i in 0..<26 {
            let scale = 0.004 * pow(top / 0.004, Double(i) / 25)
            let e0 = try GPUEvent(device: library.device), e1 = try GPUEvent(device: library.device)
            try e0.record(on: stream)
            let mask = try e.estimate(shape: a.shape, dtype: a.dtype, q: a.q, k: a.k, spec: a.spec, target: .scale(scale), workspace: w, stream: stream)
            try e1.record(on: stream)
            try stream.synchronize()
            ms = try e1.milliseconds(since: e0)
            masks.append(try mask.download())
        }
        return GPUMaskSweep(name: "minference", masks: masks, estimateMs: ms)
    }

    /// The oracle: the exact tile masses (mean over each query block's rows) thresholded at every ε.
    static func oracle(truths: [AttentionTruth], geometry g: TileGeometry) throws -> GPUMaskSweep {
        var m = try TileMasses(geometry: g, heads: truths.count)
        for (h, t) in truths.enumerated() { t.tileMasses(into: &m, as: h) }
        let keep = OracleEstimator().alwaysKeep
        return GPUMaskSweep(name: "oracle", masks: try ErrorBoundThreshold.sweep(m, epsilons: FrontierRunner.epsilonGrid, alwaysKeep: keep))
    }
}
