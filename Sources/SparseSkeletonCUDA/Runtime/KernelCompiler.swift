/// What ptxas reported for one compiled kernel (from `--ptxas-options=-v`).
public struct ResourceReport: Sendable, CustomStringConvertible {
    public let registers: Int
    public let spillStoreBytes: Int
    public let spillLoadBytes: Int
    public let stackFrameBytes: Int
    /// The ptxas lines themselves.
    public let lines: [String]

    /// Parses "Used 206 registers", "N bytes stack frame, N bytes spill stores, N bytes spill loads".
    init(log: String) {
        var regs = -1, stores = 0, loads = 0, stack = 0
        var kept: [String] = []
        func number(before word: String, in line: Substring) -> Int? {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "," })
            guard let i = parts.firstIndex(where: { $0 == word }), i > parts.startIndex else { return nil }
            return Int(parts[parts.index(before: i)])
        }
        for line in log.split(separator: "\n") where line.contains("ptxas") {
            kept.append(String(line))
            if line.contains("registers"), let r = number(before: "registers", in: line) { regs = r }
            if line.contains("spill") {
                let parts = line.split(separator: ",")
                for p in parts {
                    let words = p.split(separator: " ")
                    guard let n = words.first(where: { Int($0) != nil }).flatMap({ Int($0) }) else { continue }
                    if p.contains("spill stores") { stores = n } else if p.contains("spill loads") { loads = n }
                    else if p.contains("stack frame") { stack = n }
                }
            }
        }
        registers = regs; spillStoreBytes = stores; spillLoadBytes = loads; stackFrameBytes = stack; lines = kept
    }

    public var description: String {
        "\(registers) registers, \(stackFrameBytes) B stack, \(spillStoreBytes) B spill stores, \(spillLoadBytes) B spill loads"
    }
}

/// A kernel compiled for one architecture: the cubin and its resource report.
public struct CompiledKernel: Sendable {
    public let name: String
    public let arch: String
    public let options: [String]
    public let cubin: [UInt8]
    public let log: String
    public let report: ResourceReport
    public let fromCache: Bool
}

/// Compiles the embedded kernel sources with NVRTC (no GPU needed), through the disk cache.
public final class KernelCompiler: @unchecked Sendable {
    let nvrtc: NVRTC
    let cache: KernelCache
    /// When false every compile runs NVRTC (the CI compile test must really compile).
    public var useCache = true
    public var nvrtcVersion: (major: Int, minor: Int) { nvrtc.version }
    public var libraryPath: String { nvrtc.library.path }

    /// Loads NVRTC; `useCache: false` gives a compiler that runs NVRTC for every compile.
    public init(useCache: Bool = true) throws {
        nvrtc = try NVRTC.load()
        self.useCache = useCache
        cache = KernelCache()
    }

    /// A compiler whose disk cache is `cacheDirectory` (tests).
    init(cacheDirectory: String) throws {
        nvrtc = try NVRTC.load()
        cache = KernelCache(directory: cacheDirectory)
    }

    /// The headers every kernel may `#include` by name: common.cuh and the parameter structs.
    public static let sharedHeaders: [(name: String, text: String)] = KernelSources.files
        .filter { $0.key.hasSuffix(".cuh") || $0.key.hasSuffix(".h") }
        .sorted { $0.key < $1.key }
        .map { (name: $0.key, text: $0.value) }

    /// The text of an embedded kernel source of this target ("sparse_flash_attention.cu").
    public static func embeddedSource(_ file: String) throws -> String {
        guard let s = KernelSources.files[file] else { throw CUDAError.unsupported("kernel source \(file) is not embedded in this binary") }
        return s
    }

    /// The file names of every embedded kernel source (.cu) of this target.
    public static var embeddedKernelFiles: [String] { KernelSources.files.keys.filter { $0.hasSuffix(".cu") }.sorted() }

    /// Compiles `source` for `arch` ("sm_90a") with `defines`, through the disk cache. `fileName` is
    /// what the compiler's messages call the source (default `name`.cu); it includes the shared
    /// headers by name.
    public func compile(name: String, source: String, fileName: String? = nil, arch: String,
                        defines: [String: String]) throws -> CompiledKernel {
        var options = ["--gpu-architecture=\(arch)", "-std=c++17", "--ptxas-options=-v", "-lineinfo", "--use_fast_math"]
        options += defines.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" }
        let headers = Self.sharedHeaders
        let keyText = headers.map { $0.name + "\n" + $0.text }.joined(separator: "\n") + "\n" + source
        let key = KernelCache.key(source: keyText, options: options, arch: arch, nvrtcVersion: nvrtc.version)
        if useCache, let hit = cache.load(key: key) {
            return CompiledKernel(name: name, arch: arch, options: options, cubin: hit.cubin, log: hit.log,
                                  report: ResourceReport(log: hit.log), fromCache: true)
        }
        let out = try nvrtc.compile(source: source, name: fileName ?? name + ".cu", headers: headers, options: options)
        if useCache { cache.store(key: key, output: out) }
        return CompiledKernel(name: name, arch: arch, options: options, cubin: out.cubin, log: out.log,
                              report: ResourceReport(log: out.log), fromCache: false)
    }
}
