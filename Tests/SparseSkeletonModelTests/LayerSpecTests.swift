import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// Per-layer attention specs: every Llama layer is `.causal`, the forward hands each layer its
/// spec, and KV-cache decoding computes the same windowed attention as the prefill.
final class LayerSpecTests: XCTestCase {
    /// Records the spec of every layer, then runs dense attention under it.
    final class RecordingBackend: AttentionBackend {
        var specs: [AttentionSpec] = []
        let name = "recording"
        func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult {
            specs.append(spec)
            return try ReferenceAttention.dense(inputs, spec: spec)
        }
    }

    func testConfigSpecsAreCausalAndValidated() throws {
        let c = LlamaConfig(architecture: "llama", layers: 3, contextLength: 64, embedding: 64, feedForward: 128,
                            heads: 2, kvHeads: 1, headDim: 32, rmsEpsilon: 1e-5, ropeBase: 10000,
                            ropeLinearFactor: 1, vocabSize: 10)
        XCTAssertEqual(c.layerSpecs, [AttentionSpec](repeating: .causal, count: 3))
        XCTAssertEqual(c.spec(layer: 2).softmaxScale(headDim: c.headDim), 1 / Double(32).squareRoot())
        XCTAssertThrowsError(try c.withLayerSpecs([.causal])) { XCTAssertTrue("\($0)".contains("3 layers")) }
        XCTAssertThrowsError(try c.withLayerSpecs([.causal, AttentionSpec(window: 0), .causal])) { XCTAssertTrue("\($0)".contains("window 0")) }
        XCTAssertEqual(try c.withLayerSpecs([.causal, AttentionSpec(window: 4), .causal]).spec(layer: 1).window, 4)
    }

    func testPrefillPassesLayerSpecsAndDecodeHonoursTheWindow() throws {
        let base = try ModelFixtures.requireLlama()
        let layers = base.config.layers
        let specs = (0..<layers).map { $0 % 2 == 0 ? AttentionSpec(window: 3) : AttentionSpec(window: 5, scale: 0.1) }
        let model = try base.withLayerSpecs(specs)
        let tokens: [Int32] = [1] + model.tokenizer.encode("It is a truth universally acknowledged, that")
        let p = tokens.count - 1
        let recorder = RecordingBackend()
        let full = try model.prefill(tokens: tokens, attention: recorder)
        XCTAssertEqual(recorder.specs, specs)
        let plain = try base.prefill(tokens: tokens, attention: DenseReferenceBackend())
        XCTAssertNotEqual(plain.hidden, full.hidden, "a window changes the forward")
        let prefix = try model.prefill(tokens: Array(tokens[0..<p]), attention: DenseReferenceBackend(), keepCache: true)
        var cache = try XCTUnwrap(prefix.cache)
        let stepped = try GreedyDecoder(model: model).step(token: tokens[p], cache: &cache)
        let e = model.config.embedding
        var num = 0.0, den = 0.0
        for (a, b) in zip(stepped, full.hidden[(p * e)..<((p + 1) * e)]) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
        XCTAssertLessThan((num / den).squareRoot(), 1e-4, "windowed decode step vs windowed prefill row")
    }
}
