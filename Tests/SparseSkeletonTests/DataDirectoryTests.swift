import XCTest
@testable import SparseSkeleton

/// The data directory's resolution order: SKELETON_DATA, then the per-user location, then the
/// checkout's data/ above the working directory; none gives one error naming setup.
final class DataDirectoryTests: TemporaryFolderTestCase {
    func make(_ path: String) throws -> String {
        let p = dir + "/" + path
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    func testOrderEnvironmentThenUserThenRepository() throws {
        let env = try make("env"), home = dir + "/home"
        let user = try make("home/.local/share/sparseskeleton")
        let repo = try make("repo/data"); _ = try make("repo/Sources/SparseSkeleton")
        let inside = try make("repo/Sources/SparseSkeleton/IO")
        XCTAssertEqual(try DataDirectory.resolve(environment: ["SKELETON_DATA": env, "HOME": home], executable: inside + "/skeleton"),
                       DataDirectory(path: env, origin: .environment))
        XCTAssertEqual(try DataDirectory.resolve(environment: ["HOME": home], executable: inside + "/skeleton"), DataDirectory(path: user, origin: .user))
        XCTAssertEqual(try DataDirectory.resolve(environment: ["HOME": dir + "/nobody"], executable: inside + "/skeleton").path,
                       URL(fileURLWithPath: repo).standardizedFileURL.path)
        XCTAssertEqual(try DataDirectory.resolve(environment: ["HOME": dir + "/nobody"], executable: inside + "/skeleton").origin, .repository)
        let xdg = try make("xdg/sparseskeleton")
        XCTAssertEqual(try DataDirectory.resolve(environment: ["HOME": home, "XDG_DATA_HOME": dir + "/xdg"], executable: inside + "/skeleton").path, xdg)
    }

    func testNoneFoundOrAMissingVariableSaysHowToRunSetup() throws {
        let outside = try make("elsewhere")
        XCTAssertThrowsError(try DataDirectory.resolve(environment: ["HOME": dir + "/nobody"], executable: outside + "/skeleton")) {
            XCTAssertTrue("\($0)".contains("scripts/setup.sh"), "\($0)")
        }
        XCTAssertThrowsError(try DataDirectory.resolve(environment: ["SKELETON_DATA": dir + "/missing"], executable: outside + "/skeleton")) {
            XCTAssertTrue("\($0)".contains("SKELETON_DATA=") && "\($0)".contains("scripts/setup.sh"), "\($0)")
        }
    }

    /// The checkout fallback is found from the executable, never from the working directory, and
    /// every place is absolute.
    func testTheWorkingDirectoryIsNeverSearched() throws {
        _ = try make("repo/data"); _ = try make("repo/Sources/SparseSkeleton")
        let outside = try make("bin")
        let cwd = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir + "/repo"))
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        XCTAssertThrowsError(try DataDirectory.resolve(environment: ["HOME": dir + "/nobody"], executable: outside + "/skeleton"))
        XCTAssertThrowsError(try DataDirectory.resolve(environment: ["HOME": dir + "/nobody"], executable: "skeleton"))
        XCTAssertThrowsError(try DataDirectory.resolve(environment: ["SKELETON_DATA": "repo/data"], executable: outside + "/skeleton")) {
            XCTAssertTrue("\($0)".contains("not an absolute path"), "\($0)")
        }
        XCTAssertNil(DataDirectory.userLocation(environment: ["HOME": "home", "XDG_DATA_HOME": "xdg"]))
        // the test runner itself lives in this checkout's .build: its data/ is found from there
        let own = try? DataDirectory.resolve(environment: ["HOME": dir + "/nobody"])
        if let own { XCTAssertTrue(own.path.hasPrefix("/") && own.path.hasSuffix("/data"), own.path) }
    }

    func testLocateKeepsExistingPathsAndLooksNamesUpInTheDataDirectory() throws {
        let data = DataDirectory(path: "/d", origin: .user)
        XCTAssertEqual(try DataDirectory.locate("emma", folder: "texts", suffix: ".txt", resolve: { data }), "/d/texts/emma.txt")
        XCTAssertEqual(try DataDirectory.locate("m.gguf", folder: "models", suffix: ".gguf", resolve: { data }), "/d/models/m.gguf")
        XCTAssertEqual(try DataDirectory.locate(dir, folder: "capture", resolve: { throw SkeletonError.invalidArgument("not asked") }), dir)
    }
}
