import XCTest
import Foundation
@testable import SparseSkeletonCUDA
import SparseSkeleton

/// The kernel disk cache with real NVRTC compiles (no GPU): an entry is used only when its
/// SHA-256 checks out; a corrupted, truncated or replaced entry is compiled again and rewritten.
final class KernelCacheTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "skeleton-kernel-cache-\(UUID().uuidString)"
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func compile(_ compiler: KernelCompiler) throws -> CompiledKernel {
        try KernelLibrary.compile(compiler: compiler, file: "fill_random.cu", source: KernelCompiler.embeddedSource("fill_random.cu"),
                                  arch: "sm_90a", defines: ["SK_BF16": "1"])
    }

    func entry() throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".kernel") }
        XCTAssertEqual(files.count, 1, "\(files)")
        return dir + "/" + (files.first ?? "")
    }

    func testACorruptedEntryIsCompiledAgainNeverLoaded() throws {
        let compiler: KernelCompiler
        do { compiler = try KernelCompiler(cacheDirectory: dir) } catch {
            XCTFail("NVRTC is required for this test and was not found: \(error)"); throw error
        }
        let fresh = try compile(compiler)
        XCTAssertFalse(fresh.fromCache)
        let cached = try compile(compiler)
        XCTAssertTrue(cached.fromCache)
        XCTAssertEqual(cached.cubin, fresh.cubin)
        XCTAssertEqual(cached.log, fresh.log)
        let path = try entry()
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        var rng = SystemRandomNumberGenerator()
        let header = good.prefix { $0 != 10 }.count + 1
        var flipped = good; flipped[header + good.count / 2 - header / 2] ^= 0x40
        let corruptions: [(String, Data)] = [
            ("random bytes", Data((0..<good.count).map { _ in UInt8.random(in: 0...255, using: &rng) })),
            ("one cubin byte flipped", flipped),
            ("truncated", good.prefix(good.count - 10)),
            ("empty", Data()),
            ("header only", good.prefix(header)),
        ]
        for (what, bytes) in corruptions {
            try bytes.write(to: URL(fileURLWithPath: path))
            let again = try compile(compiler)
            XCTAssertFalse(again.fromCache, "\(what): must be compiled again, not loaded as cached")
            XCTAssertEqual(again.cubin, fresh.cubin, what)
            XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: path)), bytes, "\(what): the entry is rewritten")
            let reloaded = try compile(compiler)
            XCTAssertTrue(reloaded.fromCache, what)
            XCTAssertEqual(reloaded.cubin, fresh.cubin, what)
        }
        // another key's valid entry renamed onto this key: the digest covers the key, so it is refused
        let other = try KernelLibrary.compile(compiler: compiler, file: "fill_random.cu", source: KernelCompiler.embeddedSource("fill_random.cu"),
                                              arch: "sm_90a", defines: ["SK_BF16": "0"])
        XCTAssertFalse(other.fromCache)
        let otherPath = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".kernel") }.map { dir + "/" + $0 }.first { $0 != path }!
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: otherPath, toPath: path)
        XCTAssertFalse(try compile(compiler).fromCache)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasSuffix(".kernel") }, [], "no temporary left")
    }
}

/// A libnvrtc planted under the working directory, where the old search looked (./data/nvrtc),
/// is never a candidate and never loaded; relative overrides and search-path entries are ignored.
final class PlantedLibraryTests: XCTestCase {
    func testAPlantedNVRTCInTheWorkingDirectoryIsNotLoaded() throws {
        let real = try KernelCompileTests.nvrtc().libraryPath
        let realFile = real.hasPrefix("/") ? real : (LibrarySearch.dataWheelRoot().map { $0 + "/nvidia/cu13/lib/" + real } ?? real)
        guard FileManager.default.fileExists(atPath: realFile) else { throw XCTSkip("the loaded NVRTC (\(real)) has no file path to plant") }
        let root = AtomicOutput.resolved(NSTemporaryDirectory()) + "/skeleton-planted-\(UUID().uuidString)"
        let lib = root + "/data/nvrtc/nvidia/cu13/lib"
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/Sources/SparseSkeleton", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: lib + "/libnvrtc.so.13", withDestinationPath: AtomicOutput.resolved(realFile))
        let cwd = FileManager.default.currentDirectoryPath
        let saved: [(String, String?)] = ["LD_LIBRARY_PATH", "SKELETON_NVRTC"].map { name in (name, getenv(name).map { String(cString: $0) }) }
        defer {
            FileManager.default.changeCurrentDirectoryPath(cwd)
            for (k, v) in saved { if let v { setenv(k, v, 1) } else { unsetenv(k) } }
            try? FileManager.default.removeItem(atPath: root)
        }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(root))
        setenv("LD_LIBRARY_PATH", "data/nvrtc/nvidia/cu13/lib:" + (saved[0].1 ?? ""), 1)
        setenv("SKELETON_NVRTC", "data/nvrtc/nvidia/cu13/lib", 1)
        let candidates = NVRTC.candidates
        XCTAssertTrue(candidates.contains("(ignored SKELETON_NVRTC=data/nvrtc/nvidia/cu13/lib: not an absolute path)"), "\(candidates)")
        for c in candidates {
            XCTAssertFalse(c.contains("/") && !c.hasPrefix("/") && !c.hasPrefix("("), "relative candidate \(c)")
            XCTAssertFalse(c.hasPrefix(root), "planted candidate \(c)")
        }
        XCTAssertFalse(nvidiaWheelLibraryDirectories().contains { $0.hasPrefix(root) || !$0.hasPrefix("/") })
        let loaded = try NVRTC.load().library.path
        XCTAssertFalse(loaded.hasPrefix(root) || (loaded.contains("/") && !loaded.hasPrefix("/")), loaded)
        XCTAssertNil(DynamicLibrary.open(candidates: ["data/nvrtc/nvidia/cu13/lib/libnvrtc.so.13"]).0, "a relative path is never opened")
    }
}
