import SparseSkeleton

/// NVRTC (the run-time CUDA C++ compiler) loaded with dlopen, and a compile to cubin for the
/// device's architecture with the ptxas resource report captured from the log.
typealias NVRTCResult = Int32

struct NVRTC: @unchecked Sendable {
    let library: DynamicLibrary
    let version: (major: Int, minor: Int)
    private let nvrtcGetErrorString: @convention(c) (NVRTCResult) -> UnsafePointer<CChar>?
    private let nvrtcCreateProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                                    UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> NVRTCResult
    private let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> NVRTCResult
    private let nvrtcCompileProgram: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> NVRTCResult
    private let nvrtcGetProgramLogSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> NVRTCResult
    private let nvrtcGetProgramLog: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> NVRTCResult
    private let nvrtcGetCUBINSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> NVRTCResult
    private let nvrtcGetCUBIN: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> NVRTCResult

    /// Every place we look for libnvrtc, in order: SKELETON_NVRTC (an absolute file or folder), the
    /// loader's search (LD_LIBRARY_PATH, ldconfig), LD_LIBRARY_PATH's absolute folders explicitly,
    /// CUDA installs, the pip wheel `nvidia-cuda-nvrtc` (the data directory's nvrtc/, site-packages
    /// of common Pythons). Nothing relative to the working directory (`LibrarySearch`).
    static var candidates: [String] {
        let names = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
        var dirs: [String] = []
        let o = LibrarySearch.override("SKELETON_NVRTC")
        if let note = o.note { dirs.append("!" + note) }
        if let p = o.path {
            if p.hasSuffix(".so") || p.contains(".so.") { dirs.append("=" + p) } else { dirs.append(p) }
        }
        dirs.append("")  // bare soname: the loader's own search
        dirs += LibrarySearch.absoluteFolders("LD_LIBRARY_PATH")
        dirs += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64"]
        dirs += nvidiaWheelLibraryDirectories()
        var out: [String] = []
        for d in dirs {
            if d.hasPrefix("=") || d.hasPrefix("!") { out.append(String(d.dropFirst())); continue }
            for n in names {
                if d.isEmpty { out.append(n) } else if fileExists(d + "/" + n) { out.append(d + "/" + n) }
            }
        }
        return out
    }

    static let installHint = """
        Install NVRTC from PyPI: python3 -m pip install --target data/nvrtc "nvidia-cuda-nvrtc==13.0.*" \
        (scripts/setup.sh --all puts it in the data directory's nvrtc/, which is searched), or set \
        SKELETON_NVRTC to the absolute path of its lib folder.
        """

    /// NVRTC dlopens libnvrtc-builtins by soname at compile time; when NVRTC itself was found by a
    /// path the loader does not search (a pip wheel folder), open the builtins from that folder
    /// first so compiling works without LD_LIBRARY_PATH.
    private static func preloadBuiltins(besides path: String) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let dir = String(path[..<slash])
        let builtins = listDirectory(dir).filter { $0.hasPrefix("libnvrtc-builtins.so") }
        _ = DynamicLibrary.open(candidates: builtins.map { dir + "/" + $0 })
    }

    static func load() throws -> NVRTC {
        let (lib, tried) = DynamicLibrary.open(candidates: candidates)
        guard let lib else { throw CUDAError.libraryNotFound(library: "libnvrtc (NVRTC)", searched: tried, hint: installHint) }
        preloadBuiltins(besides: lib.path)
        let versionFn = try lib.symbol("nvrtcVersion", as: (@convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> NVRTCResult).self)
        var ma: Int32 = 0, mi: Int32 = 0
        _ = versionFn(&ma, &mi)
        return try NVRTC(
            library: lib, version: (Int(ma), Int(mi)),
            nvrtcGetErrorString: lib.symbol("nvrtcGetErrorString", as: (@convention(c) (NVRTCResult) -> UnsafePointer<CChar>?).self),
            nvrtcCreateProgram: lib.symbol("nvrtcCreateProgram", as: (@convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                                                                       UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> NVRTCResult).self),
            nvrtcDestroyProgram: lib.symbol("nvrtcDestroyProgram", as: (@convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> NVRTCResult).self),
            nvrtcCompileProgram: lib.symbol("nvrtcCompileProgram", as: (@convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> NVRTCResult).self),
            nvrtcGetProgramLogSize: lib.symbol("nvrtcGetProgramLogSize", as: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> NVRTCResult).self),
            nvrtcGetProgramLog: lib.symbol("nvrtcGetProgramLog", as: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> NVRTCResult).self),
            nvrtcGetCUBINSize: lib.symbol("nvrtcGetCUBINSize", as: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> NVRTCResult).self),
            nvrtcGetCUBIN: lib.symbol("nvrtcGetCUBIN", as: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> NVRTCResult).self))
    }

    private func check(_ r: NVRTCResult, _ call: String) throws {
        if r != 0 {
            let name = nvrtcGetErrorString(r).map { String(cString: $0) } ?? "nvrtcResult \(r)"
            throw CUDAError.nvrtc(call: call, code: r, name: name)
        }
    }

    /// A compiled kernel image plus the compiler's log (the ptxas report with -v).
    struct Output { let cubin: [UInt8]; let log: String }

    /// Compiles `source` to a cubin with `options` (which must name the architecture); `headers`
    /// (name → text) are what `#include "name"` finds, so line numbers in the log are the file's own.
    /// NVRTC_ERROR_COMPILATION (6) becomes `compileFailed` carrying the log.
    func compile(source: String, name: String, headers: [(name: String, text: String)] = [], options: [String]) throws -> Output {
        var prog: OpaquePointer? = nil
        let headerTexts = headers.map { strdup($0.text) }, headerNames = headers.map { strdup($0.name) }
        defer { (headerTexts + headerNames).forEach { free($0) } }
        let texts = headerTexts.map { UnsafePointer<CChar>($0) }, names = headerNames.map { UnsafePointer<CChar>($0) }
        let created = texts.withUnsafeBufferPointer { t in
            names.withUnsafeBufferPointer { n in
                nvrtcCreateProgram(&prog, source, name, Int32(headers.count), t.baseAddress, n.baseAddress)
            }
        }
        try check(created, "nvrtcCreateProgram(\(name))")
        defer { _ = nvrtcDestroyProgram(&prog) }
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        let constOptions = cOptions.map { UnsafePointer<CChar>($0) }
        let r = constOptions.withUnsafeBufferPointer { nvrtcCompileProgram(prog, Int32(options.count), $0.baseAddress) }
        var logSize = 0
        _ = nvrtcGetProgramLogSize(prog, &logSize)
        var logBytes = [CChar](repeating: 0, count: max(logSize, 1))
        if logSize > 0 { _ = nvrtcGetProgramLog(prog, &logBytes) }
        let log = String(cString: logBytes)
        if r == 6 { throw CUDAError.compileFailed(kernel: name, options: options, log: log) }
        try check(r, "nvrtcCompileProgram(\(name))")
        var size = 0
        try check(nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize")
        var bytes = [CChar](repeating: 0, count: size)
        try check(nvrtcGetCUBIN(prog, &bytes), "nvrtcGetCUBIN")
        return Output(cubin: bytes.map { UInt8(bitPattern: $0) }, log: log)
    }
}

#if canImport(Glibc)
import Glibc
#endif
