import Foundation
import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// The element-wise pieces of the block and the RoPE convention, against float64 loops written
/// here, on fresh random inputs.
final class LlamaOpsTests: XCTestCase {
    var rng = SystemRandomNumberGenerator()
    func random(_ n: Int, _ r: ClosedRange<Float> = -2...2) -> [Float] { (0..<n).map { _ in Float.random(in: r, using: &rng) } }

    func testRMSNormAndSwiGLU() {
        let rows = 5, width = 96
        let x = random(rows * width), g = random(width, 0.5...1.5)
        let y = LlamaOps.rmsNorm(x, rows: rows, width: width, gain: g, epsilon: 1e-5)
        for r in 0..<rows {
            let ms = (0..<width).reduce(0.0) { $0 + Double(x[r * width + $1]) * Double(x[r * width + $1]) } / Double(width)
            for c in 0..<width {
                let e = Double(x[r * width + c]) / (ms + 1e-5).squareRoot() * Double(g[c])
                XCTAssertEqual(Double(y[r * width + c]), e, accuracy: 1e-5 * max(1, abs(e)))
            }
        }
        var a = random(1000, -8...8)
        let a0 = a, b = random(1000)
        LlamaOps.siluMultiply(&a, b)
        for i in 0..<1000 {
            let z = Double(a0[i]), e = z / (1 + Foundation.exp(-z)) * Double(b[i])
            XCTAssertEqual(Double(a[i]), e, accuracy: 1e-5 * max(1, abs(e)))
        }
    }

    /// Half-split RoPE against the rotation written in complex form: pair (i, i + d/2) is the
    /// complex number x_i + i·x_{i+d/2}, multiplied by e^{i·pos·θ_i}.
    func testRoPEHalfSplitRotation() {
        let tokens = 7, heads = 2, d = 64, base = 1e5, start = 100
        var x = random(tokens * heads * d)
        let x0 = x
        let table = LlamaOps.RoPETable(positions: start..<(start + tokens), headDim: d, base: base, linearFactor: 2)
        LlamaOps.applyRoPE(&x, tokens: tokens, heads: heads, headDim: d, table: table)
        for t in 0..<tokens {
            for h in 0..<heads {
                for i in 0..<(d / 2) {
                    let angle = Double(start + t) / 2 * Foundation.pow(base, -2 * Double(i) / Double(d))
                    let o = (t * heads + h) * d
                    let re = Double(x0[o + i]), im = Double(x0[o + i + d / 2])
                    XCTAssertEqual(Double(x[o + i]), re * Foundation.cos(angle) - im * Foundation.sin(angle), accuracy: 1e-5)
                    XCTAssertEqual(Double(x[o + i + d / 2]), re * Foundation.sin(angle) + im * Foundation.cos(angle), accuracy: 1e-5)
                }
            }
        }
    }

    /// Undoing GGUF's row permutation and rotating half-split pairs gives exactly the vectors that
    /// rotating llama.cpp's adjacent pairs (2i, 2i+1) on the stored rows gives, re-ordered; so q·k
    /// is the same logit in both conventions.
    func testUnpermuteMatchesInterleavedRoPE() {
        let heads = 3, d = 64, cols = 8, pos = 37
        let stored = random(heads * d * cols)   // rows as GGUF stores them
        let h = random(cols)
        let hf = LlamaWeights.unpermuteRoPERows(stored, heads: heads, headDim: d, columns: cols)
        func project(_ w: [Float]) -> [Double] {
            (0..<(heads * d)).map { r in (0..<cols).reduce(0.0) { $0 + Double(w[r * cols + $1]) * Double(h[$1]) } }
        }
        let a = project(stored), b = project(hf)
        for head in 0..<heads {
            for i in 0..<(d / 2) {
                let angle = Double(pos) * Foundation.pow(10000, -2 * Double(i) / Double(d))
                let c = Foundation.cos(angle), s = Foundation.sin(angle)
                // llama.cpp: adjacent pair of the stored layout
                let x0 = a[head * d + 2 * i], x1 = a[head * d + 2 * i + 1]
                // ours: half-split pair of the unpermuted layout
                let y0 = b[head * d + i], y1 = b[head * d + i + d / 2]
                XCTAssertEqual(x0 * c - x1 * s, y0 * c - y1 * s, accuracy: 1e-9)
                XCTAssertEqual(x0 * s + x1 * c, y0 * s + y1 * c, accuracy: 1e-9)
            }
        }
    }

    func testConfigRejectsOtherArchitecturesAndLongContexts() throws {
        let path = try SyntheticGGUF.architectureOnly("gemma3", name: "arch")
        defer { unlink(path) }
        XCTAssertThrowsError(try LlamaConfig(gguf: try GGUFFile(path: path))) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedArchitecture("gemma3"))
            XCTAssertTrue("\(error)".contains("supported: llama"))
        }
        let llama = SyntheticGGUF.make(kvCount: 2, writeKVs: { w in
            w.architecture("llama")
            w.string("llama.block_count"); w.u32(4); w.u32(2)
        }, tensors: [])
        let p2 = try SyntheticGGUF.write(llama, name: "llama")
        defer { unlink(p2) }
        XCTAssertThrowsError(try LlamaConfig(gguf: try GGUFFile(path: p2))) { error in
            XCTAssertEqual(error as? ModelError, .missingMetadata(key: "llama.context_length"))
        }
    }

    func testPrefillRejectsBadTokens() throws {
        let model = try ModelFixtures.requireLlama()
        let tooLong = [Int32](repeating: 1, count: model.config.contextLength + 1)
        XCTAssertThrowsError(try model.prefill(tokens: tooLong, attention: DenseReferenceBackend())) { error in
            XCTAssertEqual(error as? ModelError, .contextTooLong(requested: model.config.contextLength + 1, modelContext: model.config.contextLength))
        }
        XCTAssertThrowsError(try model.prefill(tokens: [1, -3], attention: DenseReferenceBackend()))
        XCTAssertThrowsError(try model.prefill(tokens: [], attention: DenseReferenceBackend()))
    }
}
