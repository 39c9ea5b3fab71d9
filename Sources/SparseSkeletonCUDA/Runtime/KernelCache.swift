#if canImport(Glibc)
import Glibc
#endif

/// On-disk cache of compiled kernels: `<dir>/<key>.cubin` plus `<key>.log` (the ptxas report).
/// The key hashes everything that changes the machine code: source text, options, target
/// architecture and the NVRTC version. Directory: $SKELETON_CACHE, else
/// $XDG_CACHE_HOME/sparseskeleton, else ~/.cache/sparseskeleton. A cache that cannot be
/// written is skipped silently (compiling again is always correct).
struct KernelCache {
    let directory: String?

    init() {
        if let d = environment("SKELETON_CACHE") { directory = d }
        else if let x = environment("XDG_CACHE_HOME") { directory = x + "/sparseskeleton" }
        else if let h = environment("HOME") { directory = h + "/.cache/sparseskeleton" }
        else { directory = nil }
    }

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

    func load(key: String) -> NVRTC.Output? {
        guard let dir = directory, let cubin = readFile("\(dir)/\(key).cubin"), !cubin.isEmpty else { return nil }
        let log = readFile("\(dir)/\(key).log").map { String(decoding: $0, as: UTF8.self) } ?? ""
        return NVRTC.Output(cubin: cubin, log: log)
    }

    func store(key: String, output: NVRTC.Output) {
        guard let dir = directory, makeDirectories(dir) else { return }
        // write to a temporary name, then rename: concurrent processes never read half a file
        let tmp = "\(dir)/\(key).\(getpid()).tmp"
        if writeFile(tmp, Array(output.log.utf8)) { rename(tmp, "\(dir)/\(key).log") }
        if writeFile(tmp, output.cubin) { rename(tmp, "\(dir)/\(key).cubin") }
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

@discardableResult
func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, bytes.count, f) }
    return fclose(f) == 0 && n == bytes.count
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
