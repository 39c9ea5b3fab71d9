import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the project's data (model, texts, captures, the NVRTC wheel) lives, found the way
/// command-line tools find their data, always as an absolute path: the environment variable
/// `SKELETON_DATA` (an absolute path); else the per-user location `$XDG_DATA_HOME/sparseskeleton`
/// (default `~/.local/share/sparseskeleton`, which `scripts/setup.sh` links to the data it fetched);
/// else the `data/` folder of the SparseSkeleton checkout that holds the running executable (a
/// folder with `data/` and `Sources/SparseSkeleton/`) — never one found from the working directory.
/// Names that are not existing paths (`--model`, `--text`, capture folders) are looked up inside it.
public struct DataDirectory: Sendable, Equatable {
    public enum Origin: String, Sendable { case environment = "SKELETON_DATA", user = "per-user location", repository = "repository data/" }
    public static let variable = "SKELETON_DATA"
    public let path: String
    public let origin: Origin

    public init(path: String, origin: Origin) { self.path = path; self.origin = origin }

    /// The per-user location for this environment (whether or not it exists); relative values are ignored.
    public static func userLocation(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return xdg + "/sparseskeleton" }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return home + "/.local/share/sparseskeleton"
    }

    /// The running executable, every symbolic link resolved (the test runner, under `swift test`).
    public static var executablePath: String {
        #if os(Linux)
        if let r = realpath("/proc/self/exe", nil) { defer { free(r) }; return String(cString: r) }
        #endif
        return AtomicOutput.resolved(Bundle.main.executablePath ?? CommandLine.arguments[0])
    }

    /// The first of the three places that is a directory; throws one line naming setup when none is.
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                               executable: String = DataDirectory.executablePath,
                               isDirectory: (String) -> Bool = DataDirectory.isDirectory) throws -> DataDirectory {
        if let p = environment[variable], !p.isEmpty {
            guard p.hasPrefix("/") else { throw SkeletonError.noDataDirectory(searched: "\(variable)=\(p), not an absolute path") }
            guard isDirectory(p) else { throw SkeletonError.noDataDirectory(searched: "\(variable)=\(p), not a directory") }
            return DataDirectory(path: p, origin: .environment)
        }
        if let user = userLocation(environment: environment), isDirectory(user) { return DataDirectory(path: user, origin: .user) }
        var dir = URL(fileURLWithPath: executable).standardizedFileURL.deletingLastPathComponent()
        while executable.hasPrefix("/") {
            let data = dir.appendingPathComponent("data").path
            if isDirectory(data), isDirectory(dir.appendingPathComponent("Sources/SparseSkeleton").path) {
                return DataDirectory(path: data, origin: .repository)
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        throw SkeletonError.noDataDirectory(searched: "\(variable) (unset), \(userLocation(environment: environment) ?? "no HOME"), data/ of a checkout holding \(executable)")
    }

    public static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    /// `name` itself when it exists; else `<data>/<folder>/<name><suffix>` (a name without the suffix
    /// gets it), resolving the data directory only then.
    public static func locate(_ name: String, folder: String, suffix: String = "",
                              resolve: () throws -> DataDirectory = { try DataDirectory.resolve() }) throws -> String {
        if FileManager.default.fileExists(atPath: name) || name.hasPrefix("/") { return name }
        let data = try resolve()
        let file = name.hasSuffix(suffix) ? name : name + suffix
        return data.path + "/" + folder + "/" + file
    }

    /// Creates `path` and its parents (an existing folder is fine).
    public static func createFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw SkeletonError.fileUnreadable(path: path, reason: "cannot create directory: \(error.localizedDescription)")
        }
    }
}
