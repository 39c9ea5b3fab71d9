// The C ABI over the GPU path (include/sparse_skeleton.h documents every function): plain
// `@_cdecl` functions on an opaque per-device context, taking caller-owned device pointers (e.g.
// PyTorch tensors' data_ptr()) and a CUstream; every byte the calls write is in caller buffers
// whose sizes the size queries give, and all work is queued on the caller's stream
// (python/sparse_skeleton wraps it with ctypes). Errors are an int status plus a message written
// into the caller's buffer; nothing here may trap on bad input.
import SparseSkeleton
import SparseSkeletonCUDA

/// Status codes (sparse_skeleton.h).
enum SKStatus: Int32 { case ok = 0, invalidArgument = 1, noGPU = 2, cuda = 3, other = 4 }

struct SKFailure: Error { let status: SKStatus; let message: String }

func skInvalid(_ message: String) -> SKFailure { SKFailure(status: .invalidArgument, message: message) }

/// The ABI version (sparse_skeleton.h SK_ABI_VERSION): bumped whenever a signature or a layout changes.
let skABIVersion: Int32 = 3

@_cdecl("sk_abi_version")
public func sk_abi_version() -> Int32 { skABIVersion }

/// Maps an error to a status and a message.
func skClassify(_ error: Error) -> (SKStatus, String) {
    if let f = error as? SKFailure { return (f.status, f.message) }
    if let c = error as? CUDAError {
        switch c {
        case .libraryNotFound, .symbolMissing, .noDevice, .unsupportedArchitecture: return (.noGPU, c.description)
        case .unsupported: return (.invalidArgument, c.description)
        default: return (.cuda, c.description)
        }
    }
    if error is SkeletonError { return (.invalidArgument, "\(error)") }
    return (.other, "\(error)")
}

/// Writes `message` NUL-terminated into err[0..<errLen) (truncated; nothing when err is null).
func skWrite(_ message: String, to err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) {
    guard let err, errLen > 0 else { return }
    let bytes = Array(message.utf8.prefix(Int(errLen) - 1))
    for (i, b) in bytes.enumerated() { err[i] = CChar(bitPattern: b) }
    err[bytes.count] = 0
}

/// Runs `body`, mapping a thrown error to its status and message (no context needed).
func skRun(_ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        skWrite("", to: err, errLen)
        return SKStatus.ok.rawValue
    } catch {
        let (status, message) = skClassify(error)
        skWrite(message, to: err, errLen)
        return status.rawValue
    }
}

func skDType(_ code: Int32) throws -> DType {
    switch code {
    case 0: return .bf16
    case 1: return .f16
    default: throw skInvalid("dtype must be 0 (bf16) or 1 (f16), got \(code)")
    }
}

func skQueryTile(_ t: Int32) throws -> Int {
    let tile = t == 0 ? 128 : Int(t)
    guard tile == 64 || tile == 128 else { throw skInvalid("queryTile must be 64 or 128 (or 0 = 128), got \(t)") }
    return tile
}

/// The attention spec of a call: causal must be 1 (the kernels compute causal attention only);
/// softmaxScale 0 = 1/√d, else a positive finite scale; window 0 = none, else ≥ 1 token.
func skAttentionSpec(causal: Int32 = 1, softmaxScale: Double, window: Int32) throws -> AttentionSpec {
    guard causal == 1 else {
        throw skInvalid("causal must be 1: the kernels compute causal attention only (got \(causal))")
    }
    guard softmaxScale == 0 || (softmaxScale.isFinite && softmaxScale > 0) else {
        throw skInvalid("softmaxScale must be 0 (default 1/sqrt(headDim)) or positive and finite, got \(softmaxScale)")
    }
    guard window >= 0 else { throw skInvalid("window must be 0 (none) or a positive number of tokens, got \(window)") }
    return AttentionSpec(window: window == 0 ? nil : Int(window), scale: softmaxScale == 0 ? nil : softmaxScale)
}

/// The mask target of sk_estimate_mask: kind 0 = error bound ε ∈ (0, 1), 1 = density ∈ (0, 1],
/// 2 = time budget in milliseconds (> 0; needs sk_calibrate_time_budget for the shape first).
func skMaskTarget(kind: Int32, value: Double) throws -> MaskTarget {
    let target: MaskTarget
    switch kind {
    case 0: target = .errorBound(epsilon: value)
    case 1: target = .density(value)
    case 2: target = .timeBudget(milliseconds: value)
    default: throw skInvalid("target kind must be 0 (epsilon), 1 (density) or 2 (time budget ms), got \(kind)")
    }
    do { return try target.validated() } catch { throw skInvalid("\(error)") }
}
