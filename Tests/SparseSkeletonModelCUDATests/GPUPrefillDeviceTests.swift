import XCTest
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModel
@testable import SparseSkeletonModelCUDA

/// Runs only where a CUDA GPU is present; elsewhere prints "no GPU: skipped ..." and skips.
/// (CI has no GPU; on the device the same checks run through `skeleton gpu-prefill --kernel-check --check`.)
final class GPUPrefillDeviceTests: XCTestCase {
    func gpu() throws -> KernelLibrary {
        do { return KernelLibrary(device: try GPUDevice(), compiler: try KernelCompiler()) } catch {
            print("no GPU: skipped \(name) (\(error))")
            throw XCTSkip("no GPU: \(error)")
        }
    }

    /// The real model, or a skip that says why (the GGUF comes from scripts/setup.sh).
    /// Relative L2 error of every position's GPU logits against the CPU model run on the very masks
    /// the GPU used (the last `gpu.prefill` of `gpu`).
    static func logitsErrorOnMasks(gpu: GPUModelPrefill, cpu model: some CausalLM, tokens ids: [Int32], masks: [BlockMask]) throws -> Double {
        let n = ids.count
        let reference = MaskedReferenceBackend(name: "GPU masks") { _, layer in masks[layer] }
        let cpu = try model.logits(try model.prefill(tokens: ids, attention: reference, captureLayers: [], capture: nil, keepCache: false, progress: nil),
                                   rows: 0..<n)
        let gpuAll = try gpu.logits(rows: 0..<n)
        var num = 0.0, den = 0.0
        for i in 0..<cpu.count { let d = Double(gpuAll[i] - cpu[i]); num += d * d; den += Double(cpu[i] * cpu[i]) }
        return (num / den).squareRoot()
    }

    private func smolLM2() throws -> LlamaModel {
        let path = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            print("no model file: skipped \(name) (run scripts/setup.sh)")
            throw XCTSkip("no model at \(path)")
        }
        return try LlamaModel(path: path)
    }

    /// Element-wise kernels and the cuBLAS product against float64 on fresh random inputs.
    func testDeviceRoutinesMatchFloat64() throws {
        let outcomes = try ModelKernelSelfCheck.run(library: try gpu())
        XCTAssertFalse(outcomes.isEmpty)
        for o in outcomes { print(o); XCTAssertTrue(o.passed, o.description) }
    }

    /// The whole prefill at N = 64 against the CPU model's dense prefill (needs the model file).
    func testPrefillMatchesCPUModel() throws {
        let library = try gpu()
        let model = try smolLM2()
        let ids: [Int32] = (0..<64).map { _ in Int32.random(in: 0..<Int32(model.config.vocabSize)) }
        let gpu = try GPUModelPrefill(library: library, weights: model.weights)
        let result = try gpu.prefill(tokens: ids, attention: .dense)
        let cpu = try model.logits(try model.prefill(tokens: ids, attention: DenseReferenceBackend()), rows: 63..<64)
        var num = 0.0, den = 0.0
        for i in 0..<cpu.count { let d = Double(result.lastLogits[i] - cpu[i]); num += d * d; den += Double(cpu[i] * cpu[i]) }
        XCTAssertLessThan((num / den).squareRoot(), 2e-2)
    }

    /// The sparse prefill with masks estimated on the GPU (ε = 0.05, N = 512) against the CPU
    /// model fed the very masks the GPU used, layer by layer: only bf16 vs f32 arithmetic differs,
    /// so the dense bound holds (needs the model file).
    func testGPUEstimatedPrefillMatchesCPUModelOnItsMasks() throws {
        let library = try gpu()
        let model = try smolLM2()
        let n = 512
        let ids: [Int32] = (0..<n).map { _ in Int32.random(in: 0..<Int32(model.config.vocabSize)) }
        let gpu = try GPUModelPrefill(library: library, weights: model.weights)
        let result = try gpu.prefill(tokens: ids, attention: .skeleton(.errorBound(epsilon: 0.05)), record: GPUPrefillRecording(masks: true))
        XCTAssertEqual(result.layerMasks.count, model.config.layers)
        XCTAssertEqual(result.timings.layerEstimationMs.count, model.config.layers)
        // every position's logits (one position alone can sit in bf16's tail: on Pride and
        // Prejudice position 511 is off by 4e-2 dense, the whole window by 7.5e-3)
        XCTAssertLessThan(try Self.logitsErrorOnMasks(gpu: gpu, cpu: model, tokens: ids, masks: result.layerMasks), 2e-2)
    }

    /// The prefill driven by the GPU MInference estimator (any `DeviceMaskEstimator`), density 0.5
    /// at N = 512: the CPU model fed the GPU's masks gives the same logits (dense bound), and the
    /// first layer's mask is the CPU MInferenceEstimator's on the same bf16 Q/K (needs the model file).
    func testMInferenceDrivenPrefillMatchesCPUModelAndCPUEstimator() throws {
        let library = try gpu()
        let model = try smolLM2()
        let n = 512, c = model.config
        let ids: [Int32] = (0..<n).map { _ in Int32.random(in: 0..<Int32(c.vocabSize)) }
        let gpu = try GPUModelPrefill(library: library, weights: model.weights)
        let mode = GPUAttentionMode.deviceEstimated(GPUMInferenceEstimator(library: library), .density(0.5))
        XCTAssertEqual(mode.name, "minference-gpu@density=0.5")
        let result = try gpu.prefill(tokens: ids, attention: mode, record: GPUPrefillRecording(masks: true, qkLayers: [0]))
        XCTAssertEqual(result.layerMasks.count, c.layers)
        XCTAssertEqual(result.timings.layerEstimationMs.count, c.layers)
        let masks = result.layerMasks
        let error = try Self.logitsErrorOnMasks(gpu: gpu, cpu: model, tokens: ids, masks: masks)
        XCTAssertLessThan(error, 2e-2)

        let shape = try AttentionShape(tokens: n, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let geometry = try TileGeometry(tokens: n, queryTile: gpu.queryTile, keyTile: gpu.keyTile)
        let reference = try MInferenceEstimator().estimate(try result.layerQK[0].inputs(shape: shape), geometry: geometry, target: .density(0.5)).mask
        var differ = 0
        for h in 0..<c.heads {
            for qb in 0..<geometry.queryBlocks {
                differ += Set(masks[0].keyBlocks(head: h, queryBlock: qb)).symmetricDifference(Set(reference.keyBlocks(head: h, queryBlock: qb))).count
            }
        }
        print("MInference prefill layer 0: \(differ) tiles differ from the CPU estimator (of \(reference.keptTiles))")
        // float (GPU) against double (CPU) score sums may swap a near-tie; the GPU check finds none
        XCTAssertLessThanOrEqual(differ, reference.keptTiles / 200)
    }

    /// Gemma-3 at N = 700 (past the 512-token window, so the local layers' window matters), with
    /// GPU-estimated masks on the global layers: every position's logits against the CPU model fed
    /// the very masks the GPU used (full masks on the windowed layers, whose spec windows them).
    func testGemma3PrefillMatchesCPUModelOnItsMasks() throws {
        let library = try gpu()
        let path = "data/models/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            print("no model file: skipped \(name) (run scripts/setup.sh --gemma)")
            throw XCTSkip("no model at \(path)")
        }
        let model = try Gemma3Model(path: path)
        let n = 700, c = model.config
        let ids: [Int32] = (0..<n).map { _ in Int32.random(in: 0..<Int32(c.vocabSize)) }
        let gpu = try GPUModelPrefill(library: library, model: model)
        XCTAssertEqual(gpu.estimatedLayers, [5, 11, 17])
        let result = try gpu.prefill(tokens: ids, attention: .skeleton(.errorBound(epsilon: 0.05)), record: GPUPrefillRecording(masks: true))
        XCTAssertEqual(result.layerMasks.count, c.layers)
        XCTAssertEqual(result.timings.layerEstimationMs.count, c.layers)
        let masks = result.layerMasks
        let error = try Self.logitsErrorOnMasks(gpu: gpu, cpu: model, tokens: ids, masks: masks)
        print("Gemma-3 GPU vs CPU on the GPU's masks, N = \(n): logits relative L2 error \(error)")
        XCTAssertLessThan(error, 2e-2)
    }
}
