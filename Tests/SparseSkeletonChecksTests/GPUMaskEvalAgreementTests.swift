import Foundation
import Testing
import SparseSkeleton
import SparseSkeletonCUDA
@testable import SparseSkeletonChecks

/// gpu-mask-eval against mask-eval: the figure-by-figure comparison (on the CPU), and both runs on a
/// tiny synthetic capture written and read as `skeleton capture` / `gpu-mask-eval --dir` do (GPU).
@Suite(.serialized) struct GPUMaskEvalAgreementTests {
    static func inputs(tokens: Int = 512) throws -> AttentionInputs {
        try StructuredAttentionGenerator(.init(tokens: tokens, queryHeads: 4, kvHeads: 1, headDim: 64, seed: 9)).inputs()
    }

    static func cpuSummary() throws -> FrontierSummary {
        var f = FrontierRunner(estimators: [SkeletonEstimator(parameters: .growingStride), MInferenceEstimator(), OracleEstimator()], geometryTile: 64)
        f.rowQuantile = 0.05
        try f.run(layer: "L", inputs: try inputs())
        return f.summary
    }

    @Test("a summary agrees with itself on every figure; a moved density, a missing row or promise fails")
    func comparisonCatchesEachDifference() throws {
        let s = try Self.cpuSummary()
        let same = GPUMaskEvalAgreement.compare(cpu: s, gpu: s)
        #expect(same.ok)
        #expect(same.figures.count >= 3 * 3 + 2, "densities of three estimators at three recalls and the promise at least")
        #expect(same.figures.contains { $0.what.hasPrefix("out.err") } && same.figures.contains { $0.what.hasPrefix("p5 row") })

        var rows = s.rows
        let i = try #require(rows.firstIndex { $0.estimator == "oracle" })
        rows[i].density[1] += 0.01  // over the oracle's 0.005
        let moved = GPUMaskEvalAgreement.compare(cpu: s, gpu: FrontierSummary(recalls: s.recalls, rows: rows, promise: s.promise))
        #expect(moved.failed.map(\.what) == ["density@\(s.recalls[1])"])
        #expect(moved.failed.first?.estimator == "oracle")

        let missing = GPUMaskEvalAgreement.compare(cpu: s, gpu: FrontierSummary(recalls: s.recalls, rows: s.rows.filter { $0.estimator != "minference" }))
        #expect(missing.failed.contains { $0.estimator == "minference" } && missing.failed.contains { $0.what.hasPrefix("promise") })
        #expect(missing.text.contains("FAIL"))
    }

    @Test("gpu-mask-eval --dir agrees with mask-eval's frontier on a tiny synthetic capture")
    func captureRunsAgree() throws {
        guard let session = GPUSession.forTest("gpu-mask-eval agreement on a synthetic capture") else { return }
        let x = try Self.inputs(tokens: 1024)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gme-capture-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = x.shape
        let w = try CaptureWriter(destination: dir)
        for (role, values, heads) in [("q", x.q, s.queryHeads), ("k", x.k, s.kvHeads), ("v", x.v!, s.kvHeads)] {
            try w.write(HeadTensor(name: role, tokens: s.tokens, heads: heads, headDim: s.headDim, values: values), layer: 3, role: role)
        }
        try w.finish(CaptureManifest(tokens: s.tokens, capturedLayers: [3], queryHeads: s.queryHeads, kvHeads: s.kvHeads, headDim: s.headDim,
                                     model: "generated", modelSHA256: "-", layers: 4, text: "generated", textSHA256: "-", startChar: 0,
                                     tokenIDs: Array(0..<s.tokens), bosTokenID: 0, ropeBase: 10000))
        let capture = try CapturedLayers(directory: dir)
        let read = try capture.inputs(try capture.layerStems(only: [3])[0], values: .qkv)
        let r = try GPUMaskEvalAgreement.run(inputs: read, layer: 3, session: session)
        print(r.text)
        #expect(r.ok, "\(r.failed.map { "\($0.estimator) \($0.what): CPU \($0.cpu) GPU \($0.gpu)" })")
    }
}
