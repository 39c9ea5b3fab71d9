import XCTest
import SparseSkeleton
@testable import SparseSkeletonCUDA

/// On a GPU: the library loads one module per (source, defines), whatever entries, block sizes
/// and shared-memory sizes are asked of it, and raises a function's shared-memory limit on demand.
/// Elsewhere it prints "no GPU: skipped …" and skips.
final class KernelLibraryDeviceTests: XCTestCase {
    func testEachModuleLoadsOncePerSourceAndDefines() throws {
        guard let s = GPUSession.forTest("kernel library module count") else { throw XCTSkip("no GPU") }
        let lib = KernelLibrary(device: s.device, compiler: s.compiler)
        let fit = GPUSkeletonEstimator.fitSource
        _ = try lib.kernel("skeleton_fill_f32", file: fit, threads: 256)
        _ = try lib.kernel("skeleton_fill_f32", file: fit, threads: 256, sharedBytes: 48 * 1024)
        _ = try lib.kernel("skeleton_tile_masses", file: fit, threads: 256, sharedBytes: 100 * 1024)
        XCTAssertEqual(lib.moduleLoads, 1, "one source, no defines: one module")
        _ = try lib.kernel("fill_random", file: "fill_random.cu", defines: ["SK_BF16": "1"], threads: 256)
        _ = try lib.kernel("fill_random", file: "fill_random.cu", defines: ["SK_BF16": "0"], threads: 256)
        _ = try lib.kernel("fill_random", file: "fill_random.cu", defines: ["SK_BF16": "1"], threads: 128)
        XCTAssertEqual(lib.moduleLoads, 3, "two define sets of a second source: two more modules")
        XCTAssertThrowsError(try lib.kernel("nope", file: "missing.cu", threads: 32)) { e in
            XCTAssertTrue("\(e)".contains("missing.cu"), "\(e)")
        }
    }
}
