import XCTest
import Foundation
import SparseSkeleton

/// The built `skeleton` refuses each class of bad option, output and input in one line with a
/// non-zero exit, before any long work; `doctor` never loads a library planted in the working directory.
final class CommandLineHardeningTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = AtomicOutput.resolved(NSTemporaryDirectory()) + "/skeleton-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// `skeleton` built beside the test runner (swift build --build-tests builds it).
    func binary() throws -> String {
        let path = (DataDirectory.executablePath as NSString).deletingLastPathComponent + "/skeleton"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("no skeleton binary beside the tests at \(path)") }
        return path
    }

    func run(_ args: [String], cwd: String? = nil, environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let environment { p.environment = environment }
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    func expectRefused(_ args: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args)
        XCTAssertNotEqual(r.status, 0, "\(args) exited 0: \(r.output)", file: file, line: line)
        XCTAssertTrue(r.output.contains(message), "\(args): expected '\(message)' in: \(r.output)", file: file, line: line)
        XCTAssertFalse(r.output.contains("Fatal error"), "\(args) trapped: \(r.output)", file: file, line: line)
    }

    func testNumericOptions() throws {
        let cap = dir + "/cap"
        try expectRefused(["mask-eval", "--dir", cap, "--layers", "4.9"], "--layers: '4.9' is not an integer")
        try expectRefused(["mask-eval", "--dir", cap, "--layers", "nan"], "--layers: 'nan' is not an integer")
        try expectRefused(["mask-eval", "--dir", cap, "--layers", "1e30"], "--layers: '1e30' is not an integer")
        try expectRefused(["mask-eval", "--tokens", "4611686018427387904"], "--tokens must be an integer in 1...16777216")
        try expectRefused(["mask-eval", "--confidence-z", "nan"], "--confidence-z must be a finite number in (0, 10]")
        try expectRefused(["mask-eval", "--confidence-z=-1e308"], "--confidence-z must be a finite number in (0, 10]")
        try expectRefused(["mask-eval", "--epsilons", "0.05,nan"], "--epsilons must be a finite number in (0, 1)")
        try expectRefused(["mask-eval", "--densities", "1.5"], "--densities must be a finite number in (0, 1]")
        try expectRefused(["mask-eval", "--tokens", "4.9"], "'4.9' is invalid for '--tokens")
        try expectRefused(["ppl", "--context", "4611686018427387904"], "--context must be an integer in 2...16777216")
        try expectRefused(["ppl", "--context", "512", "--attention", "skeleton", "--epsilon", "inf"], "--epsilon must be a finite number in (0, 1)")
        try expectRefused(["capture", "--text", "x", "--tokens", "256", "--layers", "0,4.9"], "--layers: '4.9' is not an integer")
        try expectRefused(["niah", "--tokens", "1024", "--depths", "0,150"], "--depths must be an integer in 0...100")
        try expectRefused(["gpu-tasks", "--depths", "0,150"], "--depths must be an integer in 0...100")
        try expectRefused(["gpu-tasks", "--tasks", "needle,haystack"], "--tasks: unknown task 'haystack'")
        try expectRefused(["gpu-tasks", "--lengths", "100"], "--lengths 100 is too short for a task prompt (at least 256)")
        try expectRefused(["gpu-tasks", "--baselines", "minference,oracle"], "--baselines: unknown baseline 'oracle'; baselines are minference, flexprefill, xattention")
        try expectRefused(["gpu-tasks", "--baselines", "flexprefill", "--densities", ""], "--baselines run at the --densities targets: give --densities")
        try expectRefused(["gpu-bench", "--seconds", "nan"], "--seconds must be a finite number in (0, ∞)")
        try expectRefused(["gpu-bench", "--tokens", "8K,2**62"], "--tokens: '2**62' is not an integer")
    }

    func testContextIsCheckedAgainstTheModelBeforeLoading() throws {
        guard FileManager.default.fileExists(atPath: ModelFixtures.modelPath) else { throw XCTSkip("model not fetched: run scripts/setup.sh --model-only") }
        try expectRefused(["ppl", "--model", ModelFixtures.modelPath, "--context", "9000"], "--context 9000 is longer than the model's context of 8192 tokens")
    }

    /// Gemma-3's 32K context bounds every command; PI ×k stretches it to k · 32K and no further.
    func testGemmaContextIsCheckedAgainstTheModelAndItsPositionInterpolation() throws {
        let gemma = Gemma3ReferenceTests.modelPath
        guard FileManager.default.fileExists(atPath: gemma) else { throw XCTSkip("Gemma-3 not fetched: run scripts/setup.sh --gemma") }
        try expectRefused(["ppl", "--model", gemma, "--context", "32769"], "--context 32769 is longer than the model's context of 32768 tokens")
        try expectRefused(["capture", "--model", gemma, "--text", "emma", "--tokens", "40000", "--layers", "5", "--out", dir + "/cap"],
                          "--tokens 40000 is longer than the model's context of 32768 tokens")
        try expectRefused(["ppl", "--model", gemma, "--pi", "2", "--context", "65537"], "--context 65537 is longer than the model's context of 65536 tokens")
        try expectRefused(["gpu-tasks", "--model", gemma, "--lengths", "8K,40000"], "--lengths 40000 is longer than the model's context of 32768 tokens")
        try expectRefused(["gpu-tasks", "--model", gemma, "--tasks", "", "--ppl-texts", "emma", "--ppl-lengths", "33K"],
                          "--ppl-lengths 33792 is longer than the model's context of 32768 tokens")
        try expectRefused(["gpu-tasks", "--model", gemma, "--pi", "2", "--lengths", "65537"], "--lengths 65537 is longer than the model's context of 65536 tokens")
    }

    func testOutputsMayNotOverwriteInputsAndCapturesMustBeComplete() throws {
        let q = dir + "/q.npy", k = dir + "/k.npy"
        try NPYFile.write(try HeadTensor(name: "q", tokens: 64, heads: 2, headDim: 64, values: [Float](repeating: 0.5, count: 64 * 128)), to: q)
        try NPYFile.write(try HeadTensor(name: "k", tokens: 64, heads: 1, headDim: 64, values: [Float](repeating: 0.5, count: 64 * 64)), to: k)
        let before = try Data(contentsOf: URL(fileURLWithPath: q))
        try FileManager.default.createSymbolicLink(atPath: dir + "/report.md", withDestinationPath: q)
        for out in [["--report", q], ["--png", k], ["--report", dir + "/report.md"]] {
            try expectRefused(["mask-eval", "--q", q, "--k", k, "--estimator", "oracle"] + out, "would overwrite the input")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: q)), before)
        // a folder of layers without the completion marker (an interrupted capture)
        let cap = dir + "/cap"
        try FileManager.default.createDirectory(atPath: cap, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: q, toPath: cap + "/layer00_q.npy")
        try FileManager.default.copyItem(atPath: k, toPath: cap + "/layer00_k.npy")
        try expectRefused(["mask-eval", "--dir", cap], "no completion marker")
    }

    /// The case: `./data/nvrtc/.../libnvrtc.so.13` planted in the working directory (which
    /// also looks like a checkout) is not what `doctor` loads.
    func testDoctorDoesNotLoadALibraryPlantedInTheWorkingDirectory() throws {
        let real = [LibrarySearch.dataWheelRoot()].compactMap { $0 }.map { $0 + "/nvidia/cu13/lib/libnvrtc.so.13" }
            .first { FileManager.default.fileExists(atPath: $0) }
        guard let real else { throw XCTSkip("no NVRTC in the data directory to plant (scripts/setup.sh --all)") }
        let lib = dir + "/data/nvrtc/nvidia/cu13/lib"
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/Sources/SparseSkeleton", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: lib + "/libnvrtc.so.13", withDestinationPath: AtomicOutput.resolved(real))
        var env = ProcessInfo.processInfo.environment
        env["LD_LIBRARY_PATH"] = nil; env["SKELETON_NVRTC"] = "data/nvrtc/nvidia/cu13/lib"
        let r = try run(["doctor"], cwd: dir, environment: env)
        XCTAssertEqual(r.status, 0, r.output)
        let line = r.output.split(separator: "\n").first { $0.hasPrefix("NVRTC:") }.map(String.init) ?? ""
        XCTAssertFalse(line.isEmpty, r.output)
        XCTAssertFalse(line.contains(dir) || line.contains(" data/nvrtc"), "loaded the planted library: \(line)")
    }
}
