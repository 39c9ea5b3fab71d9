import XCTest
import SparseSkeletonCUDA
@testable import SparseSkeletonModelCUDA

/// CPU-only checks of the GPU prefill: its kernels compile for Hopper with NVRTC (no GPU needed),
/// and cuBLAS is searched where the brief says, the environment override first.
final class ModelKernelCompileTests: XCTestCase {
    /// Compiles every element-wise kernel of the prefill for sm_90a (NVRTC from the PyPI wheel,
    /// e.g. data/nvrtc) and prints ptxas's report; none may spill.
    func testModelKernelsCompileForSm90a() throws {
        let compiler: KernelCompiler
        do { compiler = try KernelCompiler() } catch {
            print("no NVRTC: skipped model kernel compile test (\(error))")
            throw XCTSkip("no NVRTC: \(error)")
        }
        compiler.useCache = false
        let compiled = try ModelKernels.compileAll(compiler: compiler, arch: "sm_90a")
        XCTAssertEqual(compiled.map(\.entry), ModelKernelSource.entries)
        for k in compiled {
            print("sm_90a \(k.entry): \(k.report)")
            XCTAssertGreaterThan(k.cubin.count, 500, "\(k.entry): cubin suspiciously small")
            XCTAssertGreaterThan(k.report.registers, 0, "\(k.entry): no ptxas register report")
            XCTAssertEqual(k.report.spillStoreBytes, 0, "\(k.entry) spills")
            XCTAssertFalse(k.fromCache)
        }
    }

    /// Every entry the Swift side launches is an extern "C" kernel of the source (a renamed
    /// kernel would otherwise fail only on the device, at cuModuleGetFunction).
    func testEveryEntryIsAnExternCKernel() {
        for e in ModelKernelSource.entries {
            XCTAssertTrue(ModelKernelSource.text.contains("extern \"C\" __global__ void \(e)("), "\(e) missing from the source")
        }
    }

    /// SKELETON_CUBLAS is tried first; the pip wheel folders are on the list.
    func testCuBLASSearchOrder() {
        setenv("SKELETON_CUBLAS", "/nowhere/libcublas.so.99", 1)
        defer { unsetenv("SKELETON_CUBLAS") }
        let c = CUBLASLibrary.candidates()
        XCTAssertEqual(c.first, "/nowhere/libcublas.so.99")
        XCTAssertTrue(c.contains("libcublas.so.13") && c.contains("libcublas.so.12"))
        XCTAssertTrue(c.contains { $0.hasSuffix("nvidia/cu13/lib/libcublas.so.13") }, "pip cu13 folder not searched")
        XCTAssertTrue(c.contains { $0.hasSuffix("nvidia/cublas/lib/libcublas.so.12") }, "pip cublas folder not searched")
        XCTAssertEqual(CUBLASLibrary.statusName(7), "CUBLAS_STATUS_INVALID_VALUE")
    }
}
