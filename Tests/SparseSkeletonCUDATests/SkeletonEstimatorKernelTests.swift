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

    /// Pass 2's shared memory per CTA: two CTAs per H200 / H100 multiprocessor (233,472 B, 1 KiB
    /// reserved per CTA) at d ≤ 128 for every ring the stride policy makes (stride ≤ 256), the tail
    /// group's layout included; and under the 227 KiB per-block limit at every head dim.
    func testProbePass2SharedMemoryFitsTwoCTAsPerMultiprocessor() throws {
        for d in SkeletonError.supportedHeadDims {
            for stride in [32, 64, 128, 256] {
                let plan = try SkeletonProbePlan(tokens: 131_072, lastRows: 64, stride: stride)
                let strided = GPUSkeletonEstimator.probePass2SharedBytes(heads: 1, headDim: d, window: plan.diagonalRing, diagonalTile: false)
                let tail = GPUSkeletonEstimator.probePass2SharedBytes(heads: 1, headDim: d, window: 256, diagonalTile: true)
                XCTAssertLessThanOrEqual(max(strided, tail), 227 * 1024, "d=\(d) stride \(stride)")
                if d <= 128 { XCTAssertLessThanOrEqual(2 * (max(strided, tail) + 1024), 233_472, "d=\(d) stride \(stride)") }
            }
        }
        // d128, stride 256 (128K with 256 fit rows): K tiles 32 KiB + rows + sCol + a 16K-float ring
        XCTAssertEqual(GPUSkeletonEstimator.probePass2SharedBytes(heads: 1, headDim: 128, window: 16_384, diagonalTile: false), 99_584)
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
