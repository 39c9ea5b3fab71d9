import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton

/// CPU-only checks of the GPU backend: the embedded sources are current, and every kernel
/// variant compiles for sm_90a with NVRTC (no GPU needed; NVRTC comes from the PyPI wheel).
final class KernelCompileTests: XCTestCase {
    /// The generated Swift file must hold exactly the .cu / .cuh files (rerun scripts/embed-kernels.sh).
    func testEmbeddedSourcesMatchKernelFiles() throws {
        let kernels = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/SparseSkeletonCUDA/Kernels").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: kernels.path)
            .filter { $0.hasSuffix(".cu") || $0.hasSuffix(".cuh") }.sorted()
        XCTAssertFalse(files.isEmpty, "no kernel sources under \(kernels.path)")
        XCTAssertEqual(files, KernelSources.files.keys.sorted(), "embedded file list is stale: run scripts/embed-kernels.sh")
        for f in files {
            var text = try String(contentsOf: kernels.appendingPathComponent(f), encoding: .utf8)
            if text.hasSuffix("\n") { text.removeLast() }
            XCTAssertEqual(KernelSources.files[f], text, "\(f) changed since embedding: run scripts/embed-kernels.sh")
        }
    }

    /// Compiles every attention kernel variant (bf16/f16 × d 64/128/256 × tiles × warp layout)
    /// for sm_90a and prints ptxas's register / spill report. Fails (does not skip) without NVRTC.
    func testEveryKernelCompilesForSm90a() throws {
        let compiler: KernelCompiler
        do { compiler = try KernelCompiler() } catch {
            XCTFail("NVRTC is required for this test and was not found: \(error)\n\(NVRTC.installHint)")
            return
        }
        compiler.useCache = false
        print("NVRTC \(compiler.nvrtcVersion.major).\(compiler.nvrtcVersion.minor) from \(compiler.libraryPath)")
        let source = try XCTUnwrap(KernelSources.files[SparseFlashAttention.sourceFile])
        for traits in FlashKernelTraits.ciVariants {
            let k = try compiler.compile(name: "sparse_flash_fwd[\(traits)]", entry: SparseFlashAttention.entry,
                                         source: source, arch: "sm_90a", defines: traits.defines)
            print("sm_90a \(traits): \(k.report)")
            XCTAssertGreaterThan(k.cubin.count, 1000, "\(traits): cubin suspiciously small")
            XCTAssertGreaterThan(k.report.registers, 0, "\(traits): no ptxas register report in the log (is --ptxas-options=-v accepted?)")
            XCTAssertFalse(k.fromCache)
        }
        let fillSource = try XCTUnwrap(KernelSources.files["fill_random.cu"])
        for bf16 in ["1", "0"] {
            let k = try compiler.compile(name: "fill_random", entry: "fill_random", source: fillSource, arch: "sm_90a", defines: ["SK_BF16": bf16])
            print("sm_90a fill_random bf16=\(bf16): \(k.report)")
            XCTAssertGreaterThan(k.report.registers, 0)
        }
    }

    /// A kernel with a syntax error must surface as compileFailed carrying the compiler's log.
    func testCompileErrorCarriesLog() throws {
        guard let compiler = try? KernelCompiler() else {
            XCTFail("NVRTC not found: \(NVRTC.installHint)"); return
        }
        compiler.useCache = false
        XCTAssertThrowsError(try compiler.compile(name: "broken", entry: "broken", source: "extern \"C\" __global__ void broken() { int x = ; }",
                                                  arch: "sm_90a", defines: [:])) { error in
            guard case CUDAError.compileFailed(_, _, let log) = error else { return XCTFail("wrong error \(error)") }
            XCTAssertTrue(log.contains("error"), "log should hold the compiler's error: \(log)")
        }
    }

    func testResourceReportParsesPtxasLines() {
        let log = """
        ptxas info    : Compiling entry function 'sparse_flash_fwd' for 'sm_90a'
        ptxas info    : Function properties for sparse_flash_fwd
        ptxas         .     120 bytes stack frame, 132 bytes spill stores, 188 bytes spill loads
        ptxas info    : Used 255 registers, used 1 barriers, 120 bytes cumulative stack size
        """
        let r = ResourceReport(log: log)
        XCTAssertEqual(r.registers, 255); XCTAssertEqual(r.spillStoreBytes, 132)
        XCTAssertEqual(r.spillLoadBytes, 188); XCTAssertEqual(r.stackFrameBytes, 120)
    }

    func testCacheKeyChangesWithEveryInput() {
        let base = KernelCache.key(source: "a", options: ["-x"], arch: "sm_90a", nvrtcVersion: (13, 0))
        XCTAssertEqual(base, KernelCache.key(source: "a", options: ["-x"], arch: "sm_90a", nvrtcVersion: (13, 0)))
        XCTAssertNotEqual(base, KernelCache.key(source: "b", options: ["-x"], arch: "sm_90a", nvrtcVersion: (13, 0)))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", options: ["-y"], arch: "sm_90a", nvrtcVersion: (13, 0)))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", options: ["-x"], arch: "sm_80", nvrtcVersion: (13, 0)))
        XCTAssertNotEqual(base, KernelCache.key(source: "a", options: ["-x"], arch: "sm_90a", nvrtcVersion: (12, 8)))
        XCTAssertNotEqual(KernelCache.key(source: "ab", options: ["c"], arch: "", nvrtcVersion: (0, 0)),
                          KernelCache.key(source: "a", options: ["bc"], arch: "", nvrtcVersion: (0, 0)))
    }

    func testTraitsRejectBadInput() {
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 96, blockM: 64, blockN: 64, dtype: .bf16))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 32, blockN: 64, dtype: .bf16))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, dtype: .f32))
        XCTAssertEqual(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16).sharedBytes, (128 + 128) * 128 * 2)
    }
}
