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
    public let entry: String
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
    private let cache = KernelCache()
    /// When false every compile runs NVRTC (the CI compile test must really compile).
    public var useCache = true
    public var nvrtcVersion: (major: Int, minor: Int) { nvrtc.version }
    public var libraryPath: String { nvrtc.library.path }

    public init() throws { nvrtc = try NVRTC.load() }

    /// Compiles `source` (the prelude is prepended) for `arch` ("sm_90a") with `defines`.
    public func compile(name: String, entry: String, source: String, arch: String, defines: [String: String]) throws -> CompiledKernel {
        let full = KernelSources.prelude + "\n" + source
        var options = ["--gpu-architecture=\(arch)", "-std=c++17", "--ptxas-options=-v", "-lineinfo", "--use_fast_math"]
        options += defines.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" }
        let key = KernelCache.key(source: full, options: options, arch: arch, nvrtcVersion: nvrtc.version)
        if useCache, let hit = cache.load(key: key) {
            return CompiledKernel(name: name, entry: entry, arch: arch, options: options, cubin: hit.cubin, log: hit.log,
                                  report: ResourceReport(log: hit.log), fromCache: true)
        }
        let out = try nvrtc.compile(source: full, name: name + ".cu", options: options)
        if useCache { cache.store(key: key, output: out) }
        return CompiledKernel(name: name, entry: entry, arch: arch, options: options, cubin: out.cubin, log: out.log,
                              report: ResourceReport(log: out.log), fromCache: false)
    }
}
