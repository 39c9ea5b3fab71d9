/// Everything the GPU path can refuse. Each message names the call or the missing piece and,
/// where one exists, what to do about it; the CPU path never throws these.
public enum CUDAError: Error, CustomStringConvertible, Sendable {
    /// A shared library was not found anywhere we looked.
    case libraryNotFound(library: String, searched: [String], hint: String)
    /// A library loaded but lacks an entry point we need (too old a driver / NVRTC).
    case symbolMissing(library: String, symbol: String)
    /// A driver call returned a CUresult other than CUDA_SUCCESS.
    case driver(call: String, code: Int32, name: String)
    /// An NVRTC call returned an nvrtcResult other than NVRTC_SUCCESS.
    case nvrtc(call: String, code: Int32, name: String)
    /// NVRTC rejected a kernel; `log` is the compiler's own output.
    case compileFailed(kernel: String, options: [String], log: String)
    /// The driver sees no CUDA device.
    case noDevice
    /// The device is older than the kernels need (mma.sync bf16, cp.async: sm_80).
    case unsupportedArchitecture(major: Int, minor: Int, name: String)
    /// An allocation that does not fit in the device's free memory.
    case outOfMemory(requestedBytes: Int, freeBytes: Int, totalBytes: Int)
    /// A request the backend cannot serve (shape, tile, dtype ...), with the reason.
    case unsupported(String)

    public var description: String {
        switch self {
        case .libraryNotFound(let lib, let searched, let hint):
            return "\(lib) not found (searched: \(searched.prefix(12).joined(separator: ", "))\(searched.count > 12 ? ", ..." : "")). \(hint)"
        case .symbolMissing(let lib, let sym):
            return "\(lib) has no entry point '\(sym)' (driver or NVRTC too old?)"
        case .driver(let call, let code, let name): return "CUDA driver call \(call) failed: \(name) (\(code))"
        case .nvrtc(let call, let code, let name): return "NVRTC call \(call) failed: \(name) (\(code))"
        case .compileFailed(let kernel, let options, let log):
            return "NVRTC could not compile \(kernel) with \(options.joined(separator: " ")):\n\(log)"
        case .noDevice: return "no CUDA device: the driver loaded but reports 0 GPUs"
        case .unsupportedArchitecture(let ma, let mi, let name):
            return "GPU \(name) is sm_\(ma)\(mi); SparseSkeleton's kernels need sm_80 or newer (Ampere, Hopper)"
        case .outOfMemory(let req, let free, let total):
            return "out of GPU memory: asked for \(formatBytes(req)), \(formatBytes(free)) free of \(formatBytes(total))"
        case .unsupported(let why): return "unsupported on the GPU: \(why)"
        }
    }
}

/// "1.50 GiB"-style sizes for messages.
public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : "\(fixed(v, 2)) \(units[u])"
}

/// `x` with `digits` decimals, without Foundation's formatter.
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "\(x)" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (abs(x) * p).rounded()
    let whole = Int(r / p), frac = Int(r - Double(whole) * p)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}
