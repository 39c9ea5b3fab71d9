import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton

/// CPU-only checks of the GPU MInference estimator: every kernel variant compiles for sm_90a with
/// NVRTC (no GPU needed), and the host-side sizing / count arithmetic.
final class MInferenceKernelCompileTests: XCTestCase {
    /// Compiles minference_estimator.cu for every variant (bf16/fp16 × d 64/128/256), prints the
    /// ptxas report of each entry, and fails on spills. Fails (does not skip) without NVRTC.
    func testEveryMInferenceVariantCompilesForSm90a() throws {
        let compiler = try KernelCompileTests.nvrtc()
        let source = try KernelCompiler.embeddedSource(GPUMInferenceEstimator.sourceFile)
        for v in GPUMInferenceEstimator.Variant.all {
            let k = try KernelLibrary.compile(compiler: compiler, file: GPUMInferenceEstimator.sourceFile, source: source, arch: "sm_90a",
                                              defines: v.defines)
            print("sm_90a minference_estimator \(v):")
            for line in k.report.lines { print("  \(line)") }
            XCTAssertGreaterThan(k.cubin.count, 1000, "\(v): cubin suspiciously small")
            XCTAssertGreaterThan(k.report.registers, 0, "\(v): no ptxas register report")
            XCTAssertFalse(k.fromCache)
            for name in GPUMInferenceEstimator.entries.map(\.name) {
                XCTAssertTrue(k.log.contains(name), "\(v): entry \(name) missing from the ptxas report")
            }
            for line in k.report.lines where line.contains("spill stores") {
                XCTAssertTrue(line.contains(" 0 bytes spill stores"), "\(v): spills: \(line)")
            }
        }
    }

    func testProbeSharedMemoryFitsAndMatchesTheKernelFormula() {
        // 2 tiles [64][d + 8] 16-bit + [64][65] Float + (256 + 64) Float, as M_SMEM in the kernel
        XCTAssertEqual(GPUMInferenceEstimator.probeSharedBytes(headDim: 128), 2 * 64 * 136 * 2 + 64 * 65 * 4 + 320 * 4)
        for d in SkeletonError.supportedHeadDims { XCTAssertLessThanOrEqual(GPUMInferenceEstimator.probeSharedBytes(headDim: d), 227 * 1024) }
    }

    func testCountsRoundLikeTheCPU() {
        let c = MInferenceEstimator()
        for a in [0.0, 0.02, 0.1, 0.25, 0.5, 1.0, 1.2345, 3.0] {
            let g = GPUMInferenceEstimator.counts(scale: a, config: c)
            XCTAssertEqual(g.columns, Int((a * Double(c.verticalCount)).rounded()))
            XCTAssertEqual(g.diagonals, Int((a * Double(c.slashCount)).rounded()))
        }
        XCTAssertEqual(GPUMInferenceEstimator.densityUpperScale(tokens: 4096, config: c), 4096.0 / 1000 + 1)
    }

    func testVariantsRejectBadInput() {
        XCTAssertThrowsError(try GPUMInferenceEstimator.Variant(headDim: 96, dtype: .bf16))
        XCTAssertThrowsError(try GPUMInferenceEstimator.Variant(headDim: 128, dtype: .f32))
        XCTAssertEqual(GPUMInferenceEstimator.Variant.all.count, 6)
    }

    /// The layout the kernels index: chunks cover N, the diagonal table holds the offset
    /// D = i0 − j0 of every causal tile, and the CSR bound is the causal tile count.
    func testLayoutCoversEveryCausalTile() throws {
        for n in [1, 63, 64, 65, 1000, 2048, 4100, 8191] {
            for (qt, kt) in [(128, 64), (64, 64), (64, 128), (128, 128)] {
                let g = try TileGeometry(tokens: n, queryTile: qt, keyTile: kt)
                let shape = try AttentionShape(tokens: n, queryHeads: 8, kvHeads: 2, headDim: 64)
                let l = try GPUMInferenceEstimator.Layout(shape: shape, geometry: g)
                XCTAssertGreaterThanOrEqual(l.chunks * GPUMInferenceEstimator.chunkKeys, n)
                XCTAssertLessThan((l.chunks - 1) * GPUMInferenceEstimator.chunkKeys, n)
                XCTAssertEqual(l.rows, 8 * g.queryBlocks)
                XCTAssertEqual(l.maxKeptTiles, 8 * g.causalTilesPerHead)
                for qb in 0..<g.queryBlocks {
                    for kb in 0...g.lastCausalKeyBlock(qb) {
                        let d = qb * qt - kb * kt
                        XCTAssertEqual((d + qt) % l.tableGranule, 0)
                        let m = (d + qt) / l.tableGranule
                        XCTAssertTrue(m >= 0 && m < l.tableEntries, "N=\(n) \(qt)x\(kt) tile (\(qb), \(kb)): table index \(m) of \(l.tableEntries)")
                    }
                }
            }
        }
        let g = try TileGeometry(tokens: 100, queryTile: 128, keyTile: 64)
        XCTAssertThrowsError(try GPUMInferenceEstimator.Layout(shape: try AttentionShape(tokens: 99, queryHeads: 1, kvHeads: 1, headDim: 64), geometry: g))
    }
}
