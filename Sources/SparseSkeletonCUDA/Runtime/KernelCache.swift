#if canImport(Glibc)
import Glibc
#endif
import SparseSkeleton

/// On-disk cache of compiled kernels: one file `<dir>/<key>.kernel` per entry, holding a header
/// line `sk-kernel 1 <sha256> <cubin bytes> <log bytes>`, the cubin, then the ptxas log. The key
/// hashes everything that changes the machine code: source text, options, target architecture and
/// the NVRTC version; the SHA-256 covers the key, the cubin and the log, so an entry that was
/// truncated, corrupted or replaced is recompiled, never loaded. Entries are written atomically
/// (temporary file, rename). Directory: $SKELETON_CACHE, else $XDG_CACHE_HOME/sparseskeleton,
/// else ~/.cache/sparseskeleton (relative values are ignored). A cache that cannot be written is
/// skipped silently (compiling again is always correct).
struct KernelCache {
    let directory: String?

    init() {
        func absolute(_ name: String) -> String? { environment(name).flatMap { $0.hasPrefix("/") ? $0 : nil } }
        if let d = absolute("SKELETON_CACHE") { directory = d }
        else if let x = absolute("XDG_CACHE_HOME") { directory = x + "/sparseskeleton" }
        else if let h = absolute("HOME") { directory = h + "/.cache/sparseskeleton" }
        else { directory = nil }
    }

    init(directory: String?) { self.directory = directory }

    /// 128-bit FNV-1a (two 64-bit lanes with different offset bases) as 32 hex digits.
    static func key(source: String, options: [String], arch: String, nvrtcVersion: (Int, Int)) -> String {
        var a: UInt64 = 0xcbf29ce484222325, b: UInt64 = 0x84222325cbf29ce4
        func mix(_ s: String) {
            for byte in s.utf8 {
                a = (a ^ UInt64(byte)) &* 0x100000001b3
                b = (b ^ UInt64(byte)) &* 0x100000001b3 ^ (b >> 29)
            }
            a = (a ^ 0xff) &* 0x100000001b3  // separator so ("ab","c") != ("a","bc")
            b = (b ^ 0xff) &* 0x100000001b3
        }
        mix(source); options.forEach(mix); mix(arch); mix("nvrtc \(nvrtcVersion.0).\(nvrtcVersion.1)")
        return hex(a) + hex(b)
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    static let magic = "sk-kernel 1"

    func path(key: String) -> String? { directory.map { "\($0)/\(key).kernel" } }

    static func digest(key: String, cubin: [UInt8], log: [UInt8]) -> String {
        var h = SHA256()
        h.update(Array((key + "\n").utf8)); h.update(cubin); h.update(log)
        return h.hexDigest()
    }

    /// The entry for `key`, or nil when there is none or it does not check out.
    func load(key: String) -> NVRTC.Output? {
        guard let file = path(key: key), let bytes = readFile(file), let nl = bytes.firstIndex(of: 10) else { return nil }
        let header = String(decoding: bytes[..<nl], as: UTF8.self).split(separator: " ")
        guard header.count == 5, header[0...1].joined(separator: " ") == Self.magic,
              let cubinCount = Int(header[3]), let logCount = Int(header[4]), cubinCount > 0, logCount >= 0,
              bytes.count - (nl + 1) == cubinCount + logCount else { return nil }
        let cubin = Array(bytes[(nl + 1)..<(nl + 1 + cubinCount)]), log = Array(bytes[(nl + 1 + cubinCount)...])
        guard String(header[2]) == Self.digest(key: key, cubin: cubin, log: log) else { return nil }
        return NVRTC.Output(cubin: cubin, log: String(decoding: log, as: UTF8.self))
    }

    func store(key: String, output: NVRTC.Output) {
        guard let file = path(key: key), let dir = directory, makeDirectories(dir) else { return }
        let log = Array(output.log.utf8)
        let header = "\(Self.magic) \(Self.digest(key: key, cubin: output.cubin, log: log)) \(output.cubin.count) \(log.count)\n"
        try? AtomicOutput.write(Array(header.utf8) + output.cubin + log, to: file)
    }
}

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

/// mkdir -p; true when the directory exists afterwards.
func makeDirectories(_ path: String) -> Bool {
    var prefix = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        prefix += "/" + part
        if !fileExists(prefix) { mkdir(prefix, 0o755) }
    }
    return fileExists(path)
}
