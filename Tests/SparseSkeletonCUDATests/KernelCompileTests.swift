import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton

/// CPU-only checks of the GPU backend: the embedded sources are current, and every kernel
/// variant compiles for sm_90a with NVRTC (no GPU needed; NVRTC comes from the PyPI wheel).
final class KernelCompileTests: XCTestCase {
    /// Compiles every attention kernel variant (bf16/f16 × d 64/128/256 × tiles × warp layout)
    /// for sm_90a and prints ptxas's register / spill report. Fails (does not skip) without NVRTC.
    func testEveryKernelCompilesForSm90a() throws {
        let compiler = try Self.nvrtc()
        print("NVRTC \(compiler.nvrtcVersion.major).\(compiler.nvrtcVersion.minor) from \(compiler.libraryPath)")
        for traits in FlashKernelTraits.ciVariants {
            let k = try KernelLibrary.compile(compiler: compiler, file: traits.sourceFile, source: KernelCompiler.embeddedSource(traits.sourceFile),
                                              arch: "sm_90a", defines: traits.defines)
            print("sm_90a \(traits): \(k.report)")
            // ptxas serialises the wgmma pipeline (each MMA waited for) when it cannot prove the overlap safe
            XCTAssertFalse(k.log.contains("wgmma.mma_async instructions are serialized"), "\(traits): \(k.log)")
            if traits.family == .hopper { XCTAssertEqual(k.report.spillStoreBytes, 0, "\(traits) spills") }
            XCTAssertGreaterThan(k.cubin.count, 1000, "\(traits): cubin suspiciously small")
            XCTAssertGreaterThan(k.report.registers, 0, "\(traits): no ptxas register report in the log (is --ptxas-options=-v accepted?)")
            XCTAssertFalse(k.fromCache)
        }
        let fillSource = try KernelCompiler.embeddedSource("fill_random.cu")
        for bf16 in ["1", "0"] {
            let k = try KernelLibrary.compile(compiler: compiler, file: "fill_random.cu", source: fillSource, arch: "sm_90a", defines: ["SK_BF16": bf16])
            print("sm_90a fill_random bf16=\(bf16): \(k.report)")
            XCTAssertGreaterThan(k.report.registers, 0)
            let q = try KernelLibrary.compile(compiler: compiler, file: FP8Quantizer.sourceFile, source: KernelCompiler.embeddedSource(FP8Quantizer.sourceFile),
                                              arch: "sm_90a", defines: ["SK_BF16": bf16])
            print("sm_90a fp8_quantize bf16=\(bf16): \(q.report)")
            XCTAssertGreaterThan(q.report.registers, 0)
        }
    }

    /// The exact tile-mass kernel (gpu-mask-eval's truth) compiles in both 16-bit types without spills.
    func testExactTileMassCompilesWithoutSpills() throws {
        let compiler = try Self.nvrtc()
        for bf16 in ["1", "0"] {
            let k = try KernelLibrary.compile(compiler: compiler, file: ExactTileMass.sourceFile, source: KernelCompiler.embeddedSource(ExactTileMass.sourceFile),
                                              arch: "sm_90a", defines: ["SK_BF16": bf16])
            print("sm_90a exact_tile_mass bf16=\(bf16): \(k.report)")
            XCTAssertGreaterThan(k.report.registers, 0)
            XCTAssertEqual(k.report.spillStoreBytes, 0)
        }
    }

    /// Every embedded .cu compiles on its own, with only the shared headers (no prelude glued on).
    func testEveryEmbeddedSourceCompilesOnItsOwn() throws {
        let compiler = try Self.nvrtc()
        XCTAssertEqual(Set(KernelCompiler.embeddedKernelFiles),
                       ["exact_tile_mass.cu", "fill_random.cu", "flash_attention_hopper.cu", "fp8_quantize.cu", "minference_estimator.cu", "skeleton_fit.cu", "skeleton_mask.cu", "skeleton_probes.cu",
                        "sparse_flash_attention.cu"])
        XCTAssertTrue(KernelCompiler.sharedHeaders.map(\.name).contains("common.cuh"))
        XCTAssertTrue(KernelCompiler.sharedHeaders.map(\.name).contains("sk_kernel_params.h"))
        for file in KernelCompiler.embeddedKernelFiles {
            let k = try KernelLibrary.compile(compiler: compiler, file: file, source: KernelCompiler.embeddedSource(file), arch: "sm_90a", defines: [:])
            XCTAssertGreaterThan(k.cubin.count, 500, file)
        }
    }

    /// A kernel with a syntax error surfaces as compileFailed carrying the compiler's log, and the
    /// log names the kernel's own file and line (the shared header is included, not prepended).
    func testCompileErrorReportsTheFilesOwnLine() throws {
        let compiler = try Self.nvrtc()
        let source = "#include \"common.cuh\"\n\nextern \"C\" __global__ void broken() { int x = ; }\n"
        XCTAssertThrowsError(try KernelLibrary.compile(compiler: compiler, file: "broken.cu", source: source, arch: "sm_90a", defines: [:])) { error in
            guard case CUDAError.compileFailed(_, _, let log) = error else { return XCTFail("wrong error \(error)") }
            XCTAssertTrue(log.contains("broken.cu(3)"), "the error should be reported on line 3 of broken.cu: \(log)")
        }
    }

    /// The library's module cache compiles and makes each (file, defines) module once, however
    /// many entries, block sizes or shared-memory sizes ask for it.
    func testModuleCacheMakesEachModuleOnce() throws {
        let compiler = try Self.nvrtc()
        var cache = ModuleCache<CompiledKernel>()
        var compiles = 0
        func get(_ defines: [String: String]) throws -> CompiledKernel {
            try cache.module(ModuleKey(file: "fill_random.cu", defines: defines)) {
                compiles += 1
                return try KernelLibrary.compile(compiler: compiler, file: "fill_random.cu", source: KernelCompiler.embeddedSource("fill_random.cu"),
                                                 arch: "sm_90a", defines: defines)
            }
        }
        let a = try get(["SK_BF16": "1"])
        for _ in 0..<3 { XCTAssertEqual(try get(["SK_BF16": "1"]).cubin, a.cubin) }
        _ = try get(["SK_BF16": "0"]); _ = try get(["SK_BF16": "0"])
        XCTAssertEqual(cache.loads, 2)
        XCTAssertEqual(compiles, 2)
    }

    /// A compiler with the cache off (every compile runs NVRTC); fails the calling test, not skips it, without NVRTC.
    static func nvrtc() throws -> KernelCompiler {
        do { return try KernelCompiler(useCache: false) } catch {
            XCTFail("NVRTC is required for this test and was not found: \(error)\n\(NVRTC.installHint)")
            throw error
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
