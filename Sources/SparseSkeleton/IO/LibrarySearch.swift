import Foundation

/// Where shared libraries (BLAS, NVRTC, the CUDA driver, cuBLAS) may be loaded from — only
/// absolute, documented places: an environment override holding an absolute path, the data
/// directory (itself absolute, `DataDirectory`), fixed install folders, or a bare file name for the
/// system loader's own search. Never a path relative to the working directory.
public enum LibrarySearch {
    /// Whether `dlopen` may be given this candidate: an absolute path, or a bare file name (not a
    /// note, which is written in parentheses and only listed among the places searched).
    public static func isAllowed(_ candidate: String) -> Bool {
        candidate.hasPrefix("/") || (!candidate.isEmpty && !candidate.contains("/") && !candidate.hasPrefix("("))
    }

    /// The value of the override variable `name` when it is an absolute path; otherwise nil, and a
    /// note for the "searched" list when it was set to something else.
    public static func override(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> (path: String?, note: String?) {
        guard let v = environment[name], !v.isEmpty else { return (nil, nil) }
        return v.hasPrefix("/") ? (v, nil) : (nil, "(ignored \(name)=\(v): not an absolute path)")
    }

    /// The absolute folders of a search-path variable such as LD_LIBRARY_PATH (relative and empty entries dropped).
    public static func absoluteFolders(_ variable: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        (environment[variable] ?? "").split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
    }

    /// A warning when LD_LIBRARY_PATH holds relative or empty entries: the system loader searches
    /// those from the working directory, which this project never does itself.
    public static func searchPathWarning(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let v = environment["LD_LIBRARY_PATH"], !v.isEmpty else { return nil }
        let bad = v.split(separator: ":", omittingEmptySubsequences: false).filter { !$0.hasPrefix("/") }
        guard !bad.isEmpty else { return nil }
        return "warning: LD_LIBRARY_PATH holds entries relative to the working directory (\(bad.map { $0.isEmpty ? "''" : String($0) }.joined(separator: ", "))); the system loader searches them from wherever a command runs"
    }

    /// `<data>/nvrtc`, where scripts/setup.sh installs the NVRTC wheel, when there is a data directory.
    public static func dataWheelRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        (try? DataDirectory.resolve(environment: environment)).map { $0.path + "/nvrtc" }
    }
}
