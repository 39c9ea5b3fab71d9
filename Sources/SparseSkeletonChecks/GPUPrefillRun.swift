import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
import SparseSkeletonModelCUDA

/// `skeleton gpu-prefill`'s run: per attention mode, an untimed recording pass (masks; with
/// `check`, the last logits and perplexity against the CPU model; the GPU masks of `layersToCheck`
/// against the CPU reference estimator), warm-up and timed runs, then the TTFT table.
public struct GPUPrefillRun {
    public var tokens: Int
    public var queryTile: Int
    public var warmup: Int
    public var repeats: Int
    public var ppl: Bool
    public var perLayer: Bool
    public var check: Bool
    public var maxError: Double
    /// After each GPU-estimated mode, also run it under the profitability gate (`gatedRun`).
    public var gate = false
    /// The gate's margin: sparse must predict ≤ this × dense.
    public var gateMargin = 0.95
    /// With `check`: an independent reference's perplexity of the window (e.g. Hugging Face's on
    /// the same GGUF); the dense GPU run must be within `referenceTolerance` (relative) of it.
    public var referencePerplexity: Double?
    public var referenceTolerance = 0.005

    public init(tokens: Int, queryTile: Int, warmup: Int, repeats: Int, ppl: Bool, perLayer: Bool, check: Bool, maxError: Double) {
        self.tokens = tokens; self.queryTile = queryTile; self.warmup = warmup; self.repeats = repeats
        self.ppl = ppl; self.perLayer = perLayer; self.check = check; self.maxError = maxError
    }

    public struct Row {
        public let label: String
        public let timings: GPUPrefillTimings
        public let minMs: Double
        public let densities: [Double]
        public let perplexity: Double?
    }

    /// The modes with their GPU-skeleton runs handed to the device estimator `estimator`
    /// ("skeleton" keeps them; "minference" runs `GPUMInferenceEstimator` at the same targets).
    public static func modes(_ modes: [(String, GPUAttentionMode)], estimator: String,
                             library: KernelLibrary) throws -> [(String, GPUAttentionMode)] {
        switch estimator {
        case "skeleton": return modes
        case "minference":
            let minference = GPUMInferenceEstimator(library: library)
            return modes.map { label, mode in
                guard case .gpuEstimated(_, let t) = mode else { return (label, mode) }
                return (label.replacingOccurrences(of: "skeleton-gpu", with: "minference-gpu"), .deviceEstimated(minference, t))
            }
        default: throw SkeletonError.invalidArgument("--estimator must be skeleton or minference, got \(estimator)")
        }
    }

    /// Every model kernel and the cuBLAS product against float64 on random inputs; throws naming the failed ones.
    public static func kernelCheck(library: KernelLibrary) throws {
        let outcomes = try ModelKernelSelfCheck.run(library: library)
        for o in outcomes { print("kernel-check \(o)") }
        guard outcomes.allSatisfy(\.passed) else {
            throw SkeletonError.invalidArgument("gpu-prefill --kernel-check failed: \(outcomes.filter { !$0.passed }.map(\.name).joined(separator: ", "))")
        }
    }

    /// The layers of `--estimator-check`: "all", "none" (or empty), or a comma-separated list.
    public static func estimatorCheckLayers(_ spec: String, layers: Int) throws -> Set<Int> {
        switch spec {
        case "none", "": return []
        case "all": return Set(0..<layers)
        default:
            let list = try ModelSession.parseInts(spec, name: "--estimator-check")
            guard list.allSatisfy({ (0..<layers).contains($0) }) else {
                throw SkeletonError.invalidArgument("--estimator-check: layers must be in 0..<\(layers), got \(spec)")
            }
            return Set(list)
        }
    }

    /// Runs every mode on `ids` and prints as it goes; returns the failed checks (empty: all passed).
    public func run<M: CausalLM>(gpu: GPUModelPrefill, model m: M, ids: [Int32], modes: [(String, GPUAttentionMode)],
                                 layersToCheck: Set<Int>) throws -> [String] {
        let targets = Array(ids.dropFirst())
        var rows: [Row] = []
        var failures: [String] = []
        var denseTimings: GPUPrefillTimings? = nil
        let bar = ProgressReporter(label: "gpu-prefill", total: modes.count, unit: "modes", inPlace: false)
        for (done, (label, mode)) in modes.enumerated() {
            defer { bar.update(done: done + 1) }
            // 1. the recording pass (untimed; compiles and loads every kernel): masks, and Q/K of
            //    the layers whose GPU masks are checked against the CPU estimator
            var qkLayers: Set<Int> = []
            if case .gpuEstimated = mode { qkLayers = layersToCheck }
            let sparse = mode.target != nil
            let rec = try gpu.prefill(tokens: ids, attention: mode, record: GPUPrefillRecording(masks: sparse, qkLayers: qkLayers))
            try Self.requireFinite(rec.lastLogits, label)
            let recDensities = rec.timings.layerDensities
            if check {
                do { try compare(gpu: gpu, model: m, ids: ids, result: rec, mode: mode, label: label) } catch { failures.append("\(label): \(error)") }
            }
            if case .gpuEstimated(let parameters, let target) = mode, !rec.layerQK.isEmpty {
                let shape = try AttentionShape(tokens: tokens, queryHeads: m.config.heads, kvHeads: m.config.kvHeads, headDim: m.config.headDim)
                if !estimatorAgrees(rec: rec, shape: shape, parameters: parameters, target: target, label: label) {
                    failures.append("\(label): GPU masks differ from the CPU reference estimator beyond \(EstimatorCheck.tileTolerance * 100)% of kept tiles")
                }
            }
            // 2. warm-up and timed runs (nothing read back per layer)
            for _ in 0..<warmup { _ = try gpu.prefill(tokens: ids, attention: mode) }
            var runs: [GPUPrefillResult] = []
            for _ in 0..<repeats { runs.append(try gpu.prefill(tokens: ids, attention: mode)) }
            for r in runs { try Self.requireFinite(r.lastLogits, label) }
            let sorted = runs.sorted { $0.timings.totalMs < $1.timings.totalMs }
            let median = sorted[sorted.count / 2]
            // 3. after the timed runs: the mask the last timed run left for the last layer against
            //    the recorded pass's (same inputs and estimator; the densities reported come from
            //    the recorded pass, so they hold for the timed runs only if these agree)
            if mode.estimatesOnDevice, let last = gpu.lastEstimatedMask, last.layer < rec.layerMasks.count {
                let recorded = rec.layerMasks[last.layer]
                let timed = try last.mask.download()
                var differ = 0
                for h in 0..<timed.heads {
                    for qb in 0..<timed.geometry.queryBlocks {
                        differ += Set(timed.keyBlocks(head: h, queryBlock: qb)).symmetricDifference(Set(recorded.keyBlocks(head: h, queryBlock: qb))).count
                    }
                }
                print("\(label): last estimated layer's (\(last.layer)) mask of the last timed run vs the recorded pass: "
                      + (differ == 0 ? "identical" : "\(differ) tiles differ (of \(recorded.keptTiles))"))
            }
            var perplexity: Double? = nil
            if ppl {
                let lp = try gpu.targetLogProbabilities(targets)
                perplexity = Foundation.exp(-lp.reduce(0, +) / Double(lp.count))
                if let p = perplexity, !p.isFinite { failures.append("\(label): \(NonFiniteResult(what: "perplexity", value: p))") }
            }
            let dens = sparse ? recDensities : [Double](repeating: 1, count: m.config.layers)
            rows.append(Row(label: label, timings: median.timings, minMs: sorted[0].timings.totalMs, densities: dens, perplexity: perplexity))
            if case .dense = mode { denseTimings = median.timings }
            if gate, mode.estimatesOnDevice {
                guard let denseTimings else { throw SkeletonError.invalidArgument("gpu-prefill --gate needs the dense mode run first (it measures dense attention)") }
                rows.append(try gatedRun(gpu: gpu, model: m, ids: ids, label: label, mode: mode, dense: denseTimings, sparse: median.timings,
                                         densities: recDensities))
            }
            if perLayer {
                let t = median.timings
                print("\(label) per layer (layer 0 first):")
                print("  density: " + dens.map { fixed($0, 2) }.joined(separator: " "))
                if !t.layerEstimationMs.isEmpty { print("  estimation ms: " + t.layerEstimationMs.map { fixed($0, 3) }.joined(separator: " ")) }
                if t.estimateEnqueueMs > 0 { print("  host enqueue of the \(gpu.estimatedLayers.count) GPU estimates: \(fixed(t.estimateEnqueueMs, 2)) ms (GPU estimation \(fixed(t.estimationMs, 2)) ms)") }
                print("  attention ms: " + t.layerAttentionMs.map { fixed($0, 3) }.joined(separator: " "))
            }
            fflush(stdout)
        }
        printTable(rows, model: m, estimatedLayers: gpu.estimatedLayers)
        return failures
    }

    /// The mode again under the profitability gate. Its cost model is measured in this run: dense
    /// attention per layer from the dense mode, sparse attention per kept tile and the estimate from
    /// this mode's timed runs; each layer's predicted density is the recording pass's (a deployment
    /// would carry it from an earlier prompt or a calibration run). Layers where estimate + sparse
    /// is not predicted below `gateMargin` × dense run dense, without an estimate.
    func gatedRun<M: CausalLM>(gpu: GPUModelPrefill, model m: M, ids: [Int32], label: String, mode: GPUAttentionMode,
                  dense: GPUPrefillTimings, sparse: GPUPrefillTimings, densities: [Double]) throws -> Row {
        let c = m.config
        let shape = try AttentionShape(tokens: tokens, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let g = try TileGeometry(tokens: tokens, queryTile: queryTile, keyTile: 64)
        let tiles = Double(c.heads * g.causalTilesPerHead)
        var parameters = SkeletonParameters.growingStride
        if case .gpuEstimated(let p, _) = mode { parameters = p }
        let pairs = AttentionCostModel.probePairs(shape: shape, parameters: parameters)
        guard densities.count == c.layers, sparse.layerAttentionMs.count == c.layers, sparse.layerEstimationMs.count == c.layers else {
            throw SkeletonError.invalidArgument("gpu-prefill --gate: \(label) has no per-layer densities or times to fit the cost model from")
        }
        // fitted on the estimated layers only (a windowed layer's attention covers fewer tiles)
        let estimated = gpu.estimatedLayers
        let model = try AttentionCostModel.fit(headDim: c.headDim, dtype: .bf16,
                                               dense: estimated.map { (tiles, dense.layerAttentionMs[$0]) },
                                               sparse: estimated.map { (densities[$0] * tiles, sparse.layerAttentionMs[$0]) },
                                               estimates: estimated.map { (pairs, sparse.layerEstimationMs[$0]) })
        gpu.gate = try GPUPrefillGate(gate: try ProfitabilityGate(model: model, margin: gateMargin), predictedDensity: densities,
                                      estimatorParameters: parameters)
        defer { gpu.gate = nil }
        let decisions = try estimated.map { try gpu.gate!.decide(layer: $0, shape: shape, dtype: .bf16, geometry: g) }
        print("\(label) +gate: \(model)")
        print("\(label) +gate: sparse on \(decisions.filter(\.sparse).count)/\(estimated.count) layers (the estimated ones of \(c.layers)); predicted per layer dense "
              + "\(fixed(decisions[0].denseMs, 3)) ms, estimate \(fixed(decisions.map(\.estimateMs).reduce(0, +) / Double(estimated.count), 3)) ms, "
              + "break-even density \(fixed(decisions.map(\.breakEvenDensity).reduce(0, +) / Double(estimated.count), 3))")
        for _ in 0..<max(1, warmup) { _ = try gpu.prefill(tokens: ids, attention: mode) }
        var runs: [GPUPrefillResult] = []
        for _ in 0..<repeats { runs.append(try gpu.prefill(tokens: ids, attention: mode)) }
        for r in runs { try Self.requireFinite(r.lastLogits, label + " +gate") }
        let sorted = runs.sorted { $0.timings.totalMs < $1.timings.totalMs }
        let gated = sorted[sorted.count / 2].timings.layerGatedDense
        let dens = zip(densities, gated).map { $1 ? 1.0 : $0 }
        var perplexity: Double? = nil
        if ppl {
            let lp = try gpu.targetLogProbabilities(Array(ids.dropFirst()))
            perplexity = Foundation.exp(-lp.reduce(0, +) / Double(lp.count))
        }
        return Row(label: label + " +gate", timings: sorted[sorted.count / 2].timings, minMs: sorted[0].timings.totalMs, densities: dens,
                   perplexity: perplexity)
    }

    /// `estimatedLayers`: the layers the sparse modes estimate masks for (the others run dense or
    /// in their window); their mean density gets its own column, and the attention share is
    /// (attention kernel + estimation) ÷ TTFT.
    public func printTable<M: CausalLM>(_ rows: [Row], model m: M, estimatedLayers: [Int]) {
        let c = m.config
        print("")
        print("gpu-prefill N = \(tokens), \(c.layers) layers, heads \(c.heads)/\(c.kvHeads), d \(c.headDim), tiles \(queryTile)x64; "
              + "TTFT median of \(repeats) (after a recording pass and \(warmup) warm-up); estimation = CUDA events around each GPU estimate "
              + "(host wall-clock for CPU estimators)")
        let densePPL = rows.first { $0.label == "dense" }?.perplexity
        var header = "| attention | N | TTFT ms | min ms | attention kernel ms | estimation ms | other ms | mean density | density of the \(estimatedLayers.count) estimated layers | attention share |"
        var rule = "|---|---|---|---|---|---|---|---|---|---|"
        if ppl { header += " perplexity | change vs dense |"; rule += "---|---|" }
        print(header); print(rule)
        for r in rows {
            let t = r.timings
            let mean = r.densities.isEmpty ? Double.nan : r.densities.reduce(0, +) / Double(r.densities.count)
            let est = estimatedLayers.filter { $0 < r.densities.count }.map { r.densities[$0] }
            let estMean = est.isEmpty ? Double.nan : est.reduce(0, +) / Double(est.count)
            let share = t.totalMs > 0 ? (t.attentionMs + t.estimationMs) / t.totalMs : .nan
            var line = "| \(r.label) | \(tokens) | \(fixed(t.totalMs, 2)) | \(fixed(r.minMs, 2)) | \(fixed(t.attentionMs, 2)) | \(fixed(t.estimationMs, 2)) | \(fixed(t.otherMs, 2)) | \(fixed(mean, 3)) | \(fixed(estMean, 3)) | \(fixed(share, 3)) |"
            if ppl, let p = r.perplexity {
                let change = densePPL.map { String(format: "%+.2f%%", 100 * (p / $0 - 1)) } ?? "—"
                line += " \(fixed(p, 4)) | \(change) |"
            }
            print(line)
        }
        fflush(stdout)
    }

    static func requireFinite(_ logits: [Float], _ label: String) throws {
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw SkeletonError.invalidArgument("\(label): non-finite logit \(logits[bad]) at index \(bad)")
        }
    }

    /// The GPU estimator's masks of the recorded layers against the CPU reference estimator
    /// (`SkeletonEstimator` with the same parameters) run on the very bf16 Q/K the GPU used: kept tiles that differ
    /// (symmetric difference) per layer. Ties at the threshold may decide differently (fp32 vs
    /// Double), so the bound is gpu-estimate's: at most 1% of the CPU's kept tiles.
    func estimatorAgrees(rec: GPUPrefillResult, shape: AttentionShape, parameters: SkeletonParameters,
                         target: MaskTarget, label: String) -> Bool {
        guard let g = rec.layerMasks.first?.geometry else { return false }
        let cpu = SkeletonEstimator(parameters: parameters)
        var ok = true
        var differ = 0, kept = 0, identical = 0
        var worst = (layer: -1, differ: 0, kept: 0)
        let start = ModelSession.now()
        for qk in rec.layerQK {
            do {
                let est = try cpu.estimate(try qk.inputs(shape: shape), geometry: g, target: target).mask
                let gm = rec.layerMasks[qk.layer]
                var d = 0
                for h in 0..<gm.heads {
                    for qb in 0..<g.queryBlocks {
                        d += Set(gm.keyBlocks(head: h, queryBlock: qb)).symmetricDifference(Set(est.keyBlocks(head: h, queryBlock: qb))).count
                    }
                }
                differ += d; kept += est.keptTiles
                if d == 0 { identical += 1 }
                if d > worst.differ { worst = (qk.layer, d, est.keptTiles) }
                if Double(d) > EstimatorCheck.tileTolerance * Double(max(est.keptTiles, 1)) { ok = false }
            } catch {
                print("\(label): estimator check of layer \(qk.layer) failed: \(error)")
                ok = false
            }
        }
        let worstText = worst.layer < 0 ? "" : "; most: layer \(worst.layer), \(worst.differ) of \(worst.kept)"
        print("estimator-check \(label), N = \(tokens): GPU masks vs CPU reference estimator on the same bf16 Q/K, \(rec.layerQK.count) layers: "
              + "\(identical) identical, \(differ) tiles differ of \(kept) kept (CPU)\(worstText) (\(fixed(ModelSession.now() - start, 1)) s) — "
              + (ok ? "PASS (≤ \(EstimatorCheck.tileTolerance * 100)% per layer)" : "FAIL"))
        return ok
    }

    /// CPU model on the same tokens with the same attention: dense — dense reference; GPU
    /// skeleton — the masks the GPU run used, layer by layer (like for like: only bf16 vs f32
    /// arithmetic differs); a CPU estimator — that estimator on the CPU model's own f32 Q/K (its
    /// masks may differ from the GPU run's, which estimated from bf16 Q/K). Relative L2 error of
    /// the last logits, argmax agreement, perplexity of both over the window.
    func compare<M: CausalLM>(gpu: GPUModelPrefill, model m: M, ids: [Int32], result: GPUPrefillResult, mode: GPUAttentionMode, label: String) throws {
        let backend: AttentionBackend
        switch mode {
        case .dense:
            backend = DenseReferenceBackend()
        case .gpuEstimated, .deviceEstimated:
            let masks = result.layerMasks
            guard masks.count == m.config.layers else { throw SkeletonError.invalidArgument("\(masks.count) recorded masks for \(m.config.layers) layers") }
            backend = MaskedReferenceBackend(name: "CPU model with the GPU's masks") { _, layer in masks[layer] }
        case .hostEstimated(let estimator, let target):
            backend = try MaskedReferenceBackend(estimator: estimator, target: target, queryTile: queryTile, keyTile: 64)
        }
        let cpu = try m.prefill(tokens: ids, attention: backend, captureLayers: [], capture: nil, keepCache: false, progress: nil)
        let cpuLast = try m.logits(cpu, rows: (ids.count - 1)..<ids.count)
        let err = Self.relativeError(result.lastLogits, cpuLast)
        let agree = Self.argmax(result.lastLogits) == Self.argmax(cpuLast)
        let targets = Array(ids.dropFirst())
        let cpuLogProbs = try m.targetLogProbabilities(cpu, targets: targets)
        // every position's logits, not only the last: relative L2 error per row
        let v = m.config.vocabSize
        let gpuAll = try gpu.logits(rows: 0..<ids.count), cpuAll = try m.logits(cpu, rows: 0..<ids.count)
        var rowErrors: [(row: Int, err: Double)] = []
        var argmaxDiffer = 0
        for r in 0..<ids.count {
            let a = Array(gpuAll[(r * v)..<((r + 1) * v)]), b = Array(cpuAll[(r * v)..<((r + 1) * v)])
            rowErrors.append((r, Self.relativeError(a, b)))
            if Self.argmax(a) != Self.argmax(b) { argmaxDiffer += 1 }
        }
        let byErr = rowErrors.sorted { $0.err < $1.err }
        print("check \(label) max abs logit error: last position \(String(format: "%.3e", Self.maxAbsError(result.lastLogits, cpuLast))), "
              + "all \(ids.count) positions \(String(format: "%.3e", Self.maxAbsError(gpuAll, cpuAll))) (CPU logits span "
              + "\(fixed(Double(cpuAll.min() ?? 0), 2))…\(fixed(Double(cpuAll.max() ?? 0), 2)))")
        let worst = byErr.last!
        print("check \(label) all \(ids.count) positions: logits relative L2 error median \(String(format: "%.2e", byErr[byErr.count / 2].err)), "
              + "p90 \(String(format: "%.2e", byErr[byErr.count * 9 / 10].err)), max \(String(format: "%.2e", worst.err)) (position \(worst.row)), "
              + "whole [N, V] \(String(format: "%.2e", Self.relativeError(gpuAll, cpuAll))); argmax differs at \(argmaxDiffer) positions")
        let gpuLogProbs = try gpu.targetLogProbabilities(targets)
        let pplGPU = Foundation.exp(-gpuLogProbs.reduce(0, +) / Double(targets.count))
        let pplCPU = Foundation.exp(-cpuLogProbs.reduce(0, +) / Double(targets.count))
        let meanDensity = result.layerMasks.isEmpty ? 1 : result.layerMasks.map(\.density).reduce(0, +) / Double(result.layerMasks.count)
        print("check \(label) vs CPU model (\(backend.name)), N = \(ids.count), mean density \(fixed(meanDensity, 3)): last-logits relative L2 error \(String(format: "%.3e", err)), argmax \(agree ? "agrees" : "DIFFERS"); perplexity GPU \(fixed(pplGPU, 4)) vs CPU \(fixed(pplCPU, 4)) (relative \(String(format: "%.2e", abs(pplGPU - pplCPU) / pplCPU)))")
        if let ref = referencePerplexity, case .dense = mode {
            let rel = abs(pplGPU - ref) / ref
            let pass = rel <= referenceTolerance
            print("check \(label) perplexity vs the reference \(fixed(ref, 4)): GPU \(fixed(pplGPU, 4)) (\(String(format: "%+.3f", 100 * (pplGPU / ref - 1)))%), "
                  + "CPU \(fixed(pplCPU, 4)) (\(String(format: "%+.3f", 100 * (pplCPU / ref - 1)))%) — \(pass ? "PASS" : "FAIL") (≤ \(100 * referenceTolerance)%)")
            if !pass { throw SkeletonError.invalidArgument("GPU perplexity \(pplGPU) is \(rel * 100)% from the reference \(ref)") }
        }
        guard err.isFinite, err <= maxError else {
            print("check \(label): FAIL (> \(maxError))")
            throw SkeletonError.invalidArgument("relative error \(err) of the last logits exceeds \(maxError)")
        }
        print("check \(label): PASS (≤ \(maxError))")
        fflush(stdout)
    }

    /// ‖a − b‖₂ / ‖b‖₂ in Double.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count, !b.isEmpty else { return .infinity }
        var num = 0.0, den = 0.0
        for i in 0..<a.count { let d = Double(a[i]) - Double(b[i]); num += d * d; den += Double(b[i]) * Double(b[i]) }
        return (num / max(den, 1e-300)).squareRoot()
    }

    static func maxAbsError(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        var m = 0.0
        for i in 0..<a.count { m = max(m, abs(Double(a[i]) - Double(b[i]))) }
        return a.contains { $0.isNaN } ? .nan : m
    }

    static func argmax(_ a: [Float]) -> Int { a.indices.max { a[$0] < a[$1] } ?? -1 }
}
