import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton

/// CPU-only checks of the GPU skeleton estimator: its kernels compile for sm_90a with NVRTC (the
/// register / spill report is printed), and its probe plan is the CPU estimator's probe set.
final class SkeletonEstimatorKernelTests: XCTestCase {
    func testEverySkeletonKernelCompilesForSm90a() throws {
        let compiler = try KernelCompileTests.nvrtc()
        for dtype in [DType.bf16, .f16] {
            for d in [64, 128, 256] {
                let kernels = try GPUSkeletonEstimator.modules(headDim: d, dtype: dtype).map {
                    try KernelLibrary.compile(compiler: compiler, file: $0.file, source: KernelCompiler.embeddedSource($0.file), arch: "sm_90a", defines: $0.defines)
                }
                for k in kernels where k.name.hasPrefix("skeleton_probe") || (d == 64 && dtype == .bf16) {
                    print("sm_90a \(k.name): \(k.report)")
                    XCTAssertGreaterThan(k.cubin.count, 1000, "\(k.name): cubin suspiciously small")
                    XCTAssertGreaterThan(k.report.registers, 0, "\(k.name): no ptxas report")
                    XCTAssertEqual(k.report.spillStoreBytes, 0, "\(k.name) spills registers")
                }
                // the report's numbers are the module's last kernel; every kernel's own line must say 0
                for k in kernels {
                    for line in k.report.lines where line.contains("spill stores") {
                        XCTAssertTrue(line.contains(" 0 bytes spill stores"), "\(k.name) spills: \(line)")
                    }
                    if d == 64 && dtype == .bf16 && !k.name.hasPrefix("skeleton_probe") {
                        for line in k.report.lines { print("sm_90a \(k.name) \(line)") }
                    }
                }
            }
        }
    }

    func testProbePlanMatchesTheCPUProbeSet() throws {
        for (n, stride) in [(100, 32), (1000, 32), (4100, 32), (70_000, 64), (131_072, 128)] {
            let plan = try SkeletonProbePlan(tokens: n, lastRows: 64, stride: stride)
            let set = ProbeSet(tokens: n, lastRows: 64, stride: stride, fitOffset: stride / 2, checkOffset: -1)
            XCTAssertEqual(plan.fitRows, set.fitRows, "N=\(n)")
            XCTAssertEqual(plan.checkRows, set.checkRows, "N=\(n)")
            XCTAssertEqual(plan.probes % 64, 0)
            // every fit / check row sits at its probe index, groups never mix kinds
            for (i, r) in plan.fitRows.enumerated() { XCTAssertEqual(Int(plan.groupRows[Int(plan.fitProbeIndex[i])]), r) }
            for (i, r) in plan.checkRows.enumerated() {
                XCTAssertEqual(Int(plan.groupRows[Int(plan.checkProbeIndex[i])]), r)
                XCTAssertGreaterThanOrEqual(Int(plan.checkProbeIndex[i]), plan.fitGroups * 64)
            }
            XCTAssertLessThanOrEqual(plan.maxFitSpan, 63 * stride)
            XCTAssertGreaterThanOrEqual(plan.diagonalRing, plan.maxFitSpan + 128)
            let byBlock = plan.fitProbesByBlock(queryTile: 128)
            XCTAssertEqual(Int(byBlock.blockStart.last!), plan.fitRows.count)
            for b in 0..<(byBlock.blockStart.count - 1) {
                for e in Int(byBlock.blockStart[b])..<Int(byBlock.blockStart[b + 1]) { XCTAssertEqual(Int(byBlock.row[e]) / 128, b) }
            }
        }
        XCTAssertEqual(SkeletonParameters.growingStride.stride(tokens: 8192), 32)
        XCTAssertEqual(SkeletonParameters.growingStride.stride(tokens: 32_768), 32)
        XCTAssertEqual(SkeletonParameters.growingStride.stride(tokens: 131_072), 128)
        XCTAssertEqual(SkeletonParameters.growingStride.stride(tokens: 1 << 20), 256)
        XCTAssertThrowsError(try SkeletonProbePlan(tokens: 0, lastRows: 64, stride: 32))
        XCTAssertThrowsError(try SkeletonProbePlan(tokens: 100, lastRows: 65, stride: 32))
    }
}
