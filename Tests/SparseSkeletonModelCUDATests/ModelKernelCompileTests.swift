import XCTest
import Foundation
import SparseSkeletonCUDA
import SparseSkeletonKernelParams
@testable import SparseSkeletonModelCUDA

/// CPU-only checks of the GPU prefill: its kernels compile for Hopper with NVRTC (no GPU needed),
/// and cuBLAS is searched where the brief says, the environment override first.
final class ModelKernelCompileTests: XCTestCase {
    /// Compiles every element-wise kernel of the prefill for sm_90a (NVRTC from the PyPI wheel,
    /// e.g. data/nvrtc) and prints ptxas's report; none may spill.
    func testModelKernelsCompileForSm90a() throws {
        let compiler: KernelCompiler
        do { compiler = try KernelCompiler(useCache: false) } catch {
            print("no NVRTC: skipped model kernel compile test (\(error))")
            throw XCTSkip("no NVRTC: \(error)")
        }
        let k = try ModelKernels.compile(compiler: compiler, arch: "sm_90a")
        for line in k.report.lines { print("sm_90a \(line)") }
        for e in ModelKernels.entries { XCTAssertTrue(k.log.contains(e), "\(e) missing from the ptxas report") }
        XCTAssertGreaterThan(k.cubin.count, 500, "cubin suspiciously small")
        XCTAssertGreaterThan(k.report.registers, 0, "no ptxas register report")
        for line in k.report.lines where line.contains("spill stores") {
            XCTAssertTrue(line.contains(" 0 bytes spill stores"), "spills: \(line)")
        }
        XCTAssertFalse(k.fromCache)
    }

    /// Every entry the Swift side launches is an extern "C" kernel of the source (a renamed
    /// kernel would otherwise fail only on the device, at cuModuleGetFunction).
    func testEveryEntryIsAnExternCKernel() {
        let text = ModelKernels.sources[ModelKernels.sourceFile] ?? ""
        for e in ModelKernels.entries {
            XCTAssertTrue(text.contains("extern \"C\" __global__ void \(e)("), "\(e) missing from the source")
        }
    }

    /// The Swift activation codes are the header's (the kernel branches on them).
    func testGatedActivationCodesMatchTheHeader() {
        XCTAssertEqual(ModelKernels.GatedActivation.silu.rawValue, Int32(SK_GLU_SILU))
        XCTAssertEqual(ModelKernels.GatedActivation.geluTanh.rawValue, Int32(SK_GLU_GELU_TANH))
        XCTAssertNotEqual(SK_GLU_SILU, SK_GLU_GELU_TANH)
    }

    /// SKELETON_CUBLAS is tried first, then the sonames; the lib folders of NVIDIA pip wheels that
    /// exist (here: a fake virtual environment holding nvidia/cublas/lib and nvidia/cu13/lib) follow.
    func testCuBLASSearchOrder() throws {
        let venv = FileManager.default.temporaryDirectory.appendingPathComponent("sk-venv-\(UUID().uuidString)").path
        for sub in ["cublas", "cu13"] {
            try FileManager.default.createDirectory(atPath: "\(venv)/lib/python3.12/site-packages/nvidia/\(sub)/lib",
                                                    withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: venv) }
        setenv("SKELETON_CUBLAS", "/nowhere/libcublas.so.99", 1)
        setenv("VIRTUAL_ENV", venv, 1)
        defer { unsetenv("SKELETON_CUBLAS"); unsetenv("VIRTUAL_ENV") }
        let c = CUBLASLibrary.candidates()
        XCTAssertEqual(c.first, "/nowhere/libcublas.so.99")
        XCTAssertTrue(c.contains("libcublas.so.13") && c.contains("libcublas.so.12"))
        let site = "\(venv)/lib/python3.12/site-packages/nvidia"
        XCTAssertTrue(c.contains("\(site)/cu13/lib/libcublas.so.13"), "pip cu13 folder not searched")
        XCTAssertTrue(c.contains("\(site)/cublas/lib/libcublas.so.12"), "pip cublas folder not searched")
        XCTAssertLessThan(c.firstIndex(of: "libcublas.so.13")!, c.firstIndex(of: "\(site)/cu13/lib/libcublas.so.13")!)
        XCTAssertEqual(CUBLASLibrary.statusName(7), "CUBLAS_STATUS_INVALID_VALUE")
    }
}
