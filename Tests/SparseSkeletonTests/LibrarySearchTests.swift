import XCTest
import Foundation
@testable import SparseSkeleton

/// Libraries come only from absolute places or the system loader's search by bare name.
final class LibrarySearchTests: TemporaryFolderTestCase {
    func testOnlyAbsolutePathsOrBareNamesAreOpened() {
        XCTAssertTrue(LibrarySearch.isAllowed("/usr/lib/libopenblas.so.0"))
        XCTAssertTrue(LibrarySearch.isAllowed("libnvrtc.so.13"))
        for bad in ["data/nvrtc/nvidia/cu13/lib/libnvrtc.so.13", "./libnvrtc.so", "../lib.so", "", "(ignored SKELETON_NVRTC=x: not an absolute path)"] {
            XCTAssertFalse(LibrarySearch.isAllowed(bad), bad)
        }
    }

    func testOverridesAndSearchPathsMustBeAbsolute() {
        XCTAssertEqual(LibrarySearch.override("SKELETON_NVRTC", environment: ["SKELETON_NVRTC": "/opt/nvrtc/lib"]).path, "/opt/nvrtc/lib")
        let relative = LibrarySearch.override("SKELETON_NVRTC", environment: ["SKELETON_NVRTC": "data/nvrtc"])
        XCTAssertNil(relative.path)
        XCTAssertEqual(relative.note, "(ignored SKELETON_NVRTC=data/nvrtc: not an absolute path)")
        XCTAssertEqual(LibrarySearch.absoluteFolders("LD_LIBRARY_PATH", environment: ["LD_LIBRARY_PATH": ":data/lib:/opt/a::./b:/opt/c"]), ["/opt/a", "/opt/c"])
        XCTAssertEqual(LibrarySearch.dataWheelRoot(environment: ["SKELETON_DATA": dir]), dir + "/nvrtc")
        XCTAssertNil(LibrarySearch.dataWheelRoot(environment: ["SKELETON_DATA": "data"]))
    }

    func testRelativeLoaderSearchPathsAreReported() {
        XCTAssertNil(LibrarySearch.searchPathWarning(environment: ["LD_LIBRARY_PATH": "/opt/a:/opt/b"]))
        XCTAssertNil(LibrarySearch.searchPathWarning(environment: [:]))
        let w = LibrarySearch.searchPathWarning(environment: ["LD_LIBRARY_PATH": "/opt/a::data/lib"]) ?? ""
        XCTAssertTrue(w.contains("('', data/lib)"), w)
    }

    /// A BLAS planted under the working directory is not opened, even when named by a relative path.
    func testAPlantedBLASIsNotLoaded() throws {
        let installed = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"].map { $0 + "/libopenblas.so.0" }
        guard let real = installed.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw XCTSkip("no OpenBLAS on this machine to plant")
        }
        try FileManager.default.createDirectory(atPath: dir + "/lib", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/lib/libopenblas.so.0", withDestinationPath: AtomicOutput.resolved(real))
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        XCTAssertNil(BLASLibrary.open("lib/libopenblas.so.0"))
        XCTAssertNotEqual(BLASLibrary.load(environment: "lib/libopenblas.so.0")?.path, "lib/libopenblas.so.0")
        XCTAssertNotNil(BLASLibrary.open(dir + "/lib/libopenblas.so.0"), "the same file by its absolute path opens")
    }
}
