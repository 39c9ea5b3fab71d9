#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SparseSkeleton

/// A shared library opened with dlopen, and typed look-ups of its entry points.
/// Nothing CUDA is linked at build time: the package builds and the CPU path runs anywhere.
public final class DynamicLibrary: @unchecked Sendable {
    public let path: String
    private let handle: UnsafeMutableRawPointer

    private init(path: String, handle: UnsafeMutableRawPointer) { self.path = path; self.handle = handle }

    /// Tries each candidate (a bare soname goes through the loader's own search) and returns
    /// the first that opens, or nil plus everything tried. A relative path is never opened
    /// (`LibrarySearch.isAllowed`): it would resolve against the working directory.
    public static func open(candidates: [String]) -> (DynamicLibrary?, [String]) {
        var tried: [String] = []
        for c in candidates where !tried.contains(c) {
            tried.append(c)
            guard LibrarySearch.isAllowed(c) else { continue }
            if let h = dlopen(c, RTLD_NOW | RTLD_GLOBAL) { return (DynamicLibrary(path: c, handle: h), tried) }
        }
        return (nil, tried)
    }

    /// The first of `names` the library exports, cast to the C function type `T`.
    public func symbol<T>(_ names: String..., as type: T.Type) throws -> T {
        for name in names {
            if let p = dlsym(handle, name) { return unsafeBitCast(p, to: type) }
        }
        throw CUDAError.symbolMissing(library: path, symbol: names.joined(separator: " / "))
    }

    /// Whether the library exports `name` (for optional entry points).
    public func has(_ name: String) -> Bool { dlsym(handle, name) != nil }
}

/// Environment variable, or nil.
func environment(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}

/// Files in `dir` (non-recursive), or [] if it cannot be read.
public func listDirectory(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { ptr in
            ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name != "." && name != ".." { out.append(name) }
    }
    return out.sorted()
}

public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// The `lib` folders of NVIDIA's pip wheels (`<site-packages>/nvidia/<package>/lib`, e.g.
/// nvidia/cu13/lib, nvidia/cublas/lib) under the data directory's nvrtc/ (absolute, see
/// `LibrarySearch`), an absolute $VIRTUAL_ENV and every Python of the usual prefixes: where NVRTC
/// and cuBLAS live on machines that have CUDA only through PyTorch.
public func nvidiaWheelLibraryDirectories() -> [String] {
    var sitePackages = [LibrarySearch.dataWheelRoot(), "/usr/lib/python3/dist-packages"].compactMap { $0 }
    if let venv = environment("VIRTUAL_ENV"), venv.hasPrefix("/") {
        for py in listDirectory(venv + "/lib") where py.hasPrefix("python3") { sitePackages.append("\(venv)/lib/\(py)/site-packages") }
    }
    for root in ["/usr/local/lib", "/usr/lib", "/opt/torch/.venv/lib", "/opt/conda/lib"] {
        for py in listDirectory(root) where py.hasPrefix("python3") {
            sitePackages += ["\(root)/\(py)/site-packages", "\(root)/\(py)/dist-packages"]
        }
    }
    var dirs: [String] = []
    for sp in sitePackages {
        for sub in listDirectory(sp + "/nvidia") { dirs.append("\(sp)/nvidia/\(sub)/lib") }
    }
    return dirs
}
