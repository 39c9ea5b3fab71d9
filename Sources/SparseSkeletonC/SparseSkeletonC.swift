// The C ABI over the GPU path (include/sparse_skeleton.h documents every function): plain
// `@_cdecl` functions taking caller-owned device pointers (e.g. PyTorch tensors' data_ptr()) and a
// CUstream, so PyTorch / Hugging Face users run the same kernels on their tensors
// (python/sparse_skeleton wraps it with ctypes). Errors are an int status plus a message written
// into the caller's buffer; nothing here may trap on bad input.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SparseSkeleton
import SparseSkeletonCUDA

/// Status codes (sparse_skeleton.h).
enum SKStatus: Int32 { case ok = 0, invalidArgument = 1, noGPU = 2, cuda = 3, other = 4 }

struct SKFailure: Error { let status: SKStatus; let message: String }

/// The one process-wide session: a `GPUSession` on device 0's primary context (the caller's
/// streams are borrowed per call; the session's own stream goes unused) plus the estimator and
/// what the ABI keeps between calls; created by the first call, kept for the life of the process.
final class SKSession {
    let gpu: GPUSession
    let estimator: GPUSkeletonEstimator
    /// The last estimate: keeps its CSR buffers alive until the next sk_skeleton_mask call.
    var lastMask: GPUSkeletonEstimator.Result?
    /// A scratch LSE buffer for callers that pass lse = 0 (grown on demand).
    var scratchLSE: DeviceBuffer?

    var device: GPUDevice { gpu.device }
    var compiler: KernelCompiler { gpu.compiler }
    var attention: SparseFlashAttention { gpu.attention }

    init() throws {
        gpu = try GPUSession(ordinal: 0)
        estimator = GPUSkeletonEstimator(library: gpu.library)
    }

    nonisolated(unsafe) static var shared: SKSession?
    nonisolated(unsafe) static var lock = pthread_mutex_t()
    nonisolated(unsafe) static var lockReady: Bool = {
        pthread_mutex_init(&SKSession.lock, nil)
        return true
    }()

    /// Runs `body` with the session under the process-wide lock, the primary context current on
    /// this thread; maps every error to a status and a message.
    static func call(_ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32, _ body: (SKSession) throws -> Void) -> Int32 {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        do {
            if shared == nil { shared = try SKSession() }
            guard let s = shared else { throw SKFailure(status: .other, message: "session could not be created") }
            try s.device.makeCurrent()
            try body(s)
            write("", to: err, errLen)
            return SKStatus.ok.rawValue
        } catch {
            let (status, message) = classify(error)
            write(message, to: err, errLen)
            return status.rawValue
        }
    }

    static func classify(_ error: Error) -> (SKStatus, String) {
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

    static func write(_ message: String, to err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) {
        guard let err, errLen > 0 else { return }
        let bytes = Array(message.utf8.prefix(Int(errLen) - 1))
        for (i, b) in bytes.enumerated() { err[i] = CChar(bitPattern: b) }
        err[bytes.count] = 0
    }
}

func skInvalid(_ message: String) -> SKFailure { SKFailure(status: .invalidArgument, message: message) }

func skDType(_ code: Int32) throws -> DType {
    switch code {
    case 0: return .bf16
    case 1: return .f16
    default: throw skInvalid("dtype must be 0 (bf16) or 1 (f16), got \(code)")
    }
}

func skShape(n: Int32, qHeads: Int32, kvHeads: Int32, headDim: Int32) throws -> AttentionShape {
    guard n > 0, qHeads > 0, kvHeads > 0, headDim > 0 else {
        throw skInvalid("n, qHeads, kvHeads, headDim must be positive (got \(n), \(qHeads), \(kvHeads), \(headDim))")
    }
    guard qHeads % kvHeads == 0 else { throw skInvalid("qHeads (\(qHeads)) must be a multiple of kvHeads (\(kvHeads))") }
    guard SkeletonError.supportedHeadDims.contains(Int(headDim)) else {
        throw skInvalid("head dim \(headDim) unsupported (supported: \(SkeletonError.supportedHeadDims.sorted()))")
    }
    return try AttentionShape(tokens: Int(n), queryHeads: Int(qHeads), kvHeads: Int(kvHeads), headDim: Int(headDim))
}

/// The attention spec of an sk_attention_forward call: causal; softmaxScale 0 = 1/√d, else a
/// positive finite scale; window 0 = none, else ≥ 1 token.
func skAttentionSpec(softmaxScale: Double, window: Int32) throws -> AttentionSpec {
    guard softmaxScale == 0 || (softmaxScale.isFinite && softmaxScale > 0) else {
        throw skInvalid("softmaxScale must be 0 (default 1/sqrt(headDim)) or positive and finite, got \(softmaxScale)")
    }
    guard window >= 0 else { throw skInvalid("window must be 0 (none) or a positive number of tokens, got \(window)") }
    return AttentionSpec(window: window == 0 ? nil : Int(window), scale: softmaxScale == 0 ? nil : softmaxScale)
}

/// The ABI version (sparse_skeleton.h SK_ABI_VERSION): bumped whenever a signature changes.
let skABIVersion: Int32 = 2

@_cdecl("sk_abi_version")
public func sk_abi_version() -> Int32 { skABIVersion }

func skQueryTile(_ t: Int32) throws -> Int {
    let tile = t == 0 ? 128 : Int(t)
    guard tile == 64 || tile == 128 else { throw skInvalid("queryTile must be 64 or 128 (or 0 = 128), got \(t)") }
    return tile
}

@_cdecl("sk_attention_forward")
public func sk_attention_forward(_ q: UInt64, _ k: UInt64, _ v: UInt64, _ o: UInt64, _ lse: UInt64,
                                 _ n: Int32, _ qHeads: Int32, _ kvHeads: Int32, _ headDim: Int32, _ dtype: Int32,
                                 _ rowOffsets: UInt64, _ keyBlocks: UInt64, _ queryTile: Int32,
                                 _ softmaxScale: Double, _ window: Int32,
                                 _ stream: UInt64, _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    SKSession.call(err, errLen) { s in
        let dt = try skDType(dtype)
        let shape = try skShape(n: n, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim)
        let tile = try skQueryTile(queryTile)
        let spec = try skAttentionSpec(softmaxScale: softmaxScale, window: window)
        guard q != 0, k != 0, v != 0, o != 0 else { throw skInvalid("q, k, v and o must be non-null device pointers") }
        guard (rowOffsets == 0) == (keyBlocks == 0) else { throw skInvalid("rowOffsets and keyBlocks must both be 0 (dense) or both set") }
        let nn = shape.tokens, d = shape.headDim, e = dt.byteSize
        let geometry = try TileGeometry(tokens: nn, queryTile: tile, keyTile: 64)
        let traits = try FlashKernelTraits.default(headDim: d, geometry: geometry, dtype: dt)
        let dev = s.device
        let qb = DeviceBuffer(device: dev, borrowing: q, byteCount: nn * shape.queryHeads * d * e)
        let kb = DeviceBuffer(device: dev, borrowing: k, byteCount: nn * shape.kvHeads * d * e)
        let vb = DeviceBuffer(device: dev, borrowing: v, byteCount: nn * shape.kvHeads * d * e)
        let ob = DeviceBuffer(device: dev, borrowing: o, byteCount: nn * shape.queryHeads * d * e)
        let lseBytes = nn * shape.queryHeads * 4
        let lb: DeviceBuffer
        if lse != 0 {
            lb = DeviceBuffer(device: dev, borrowing: lse, byteCount: lseBytes)
        } else {
            if let sc = s.scratchLSE, sc.byteCount >= lseBytes { lb = sc } else {
                // the old scratch may still be written by queued work: wait before freeing it
                if s.scratchLSE != nil { try dev.synchronize() }
                s.scratchLSE = nil
                let sc = try DeviceBuffer(device: dev, byteCount: lseBytes)
                s.scratchLSE = sc
                lb = sc
            }
        }
        var mask: DeviceBlockMask? = nil
        if rowOffsets != 0 {
            let rows = shape.queryHeads * geometry.queryBlocks
            // the kernel reads at most every causal tile; the wrapper's size is only for checks
            let ro = DeviceBuffer(device: dev, borrowing: rowOffsets, byteCount: (rows + 1) * 4)
            let kbk = DeviceBuffer(device: dev, borrowing: keyBlocks, byteCount: rows * geometry.keyBlocks * 4)
            mask = try DeviceBlockMask(geometry: geometry, heads: shape.queryHeads, rowOffsets: ro, keyBlocks: kbk)
        }
        let st = GPUStream(device: dev, borrowing: stream)
        try s.attention.forward(shape: shape, traits: traits, q: qb, k: kb, v: vb, o: ob, lse: lb, mask: mask, spec: spec, stream: st)
    }
}

@_cdecl("sk_skeleton_mask")
public func sk_skeleton_mask(_ q: UInt64, _ k: UInt64, _ n: Int32, _ qHeads: Int32, _ kvHeads: Int32, _ headDim: Int32, _ dtype: Int32,
                             _ epsilon: Double, _ density: Double, _ queryTile: Int32, _ stream: UInt64,
                             _ rowOffsetsOut: UnsafeMutablePointer<UInt64>?, _ keyBlocksOut: UnsafeMutablePointer<UInt64>?,
                             _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    SKSession.call(err, errLen) { s in
        let dt = try skDType(dtype)
        let shape = try skShape(n: n, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim)
        let tile = try skQueryTile(queryTile)
        guard q != 0, k != 0 else { throw skInvalid("q and k must be non-null device pointers") }
        guard let rowOffsetsOut, let keyBlocksOut else { throw skInvalid("rowOffsetsOut and keyBlocksOut must be non-null") }
        let target: MaskTarget
        if epsilon > 0 {
            guard epsilon < 1, epsilon.isFinite else { throw skInvalid("epsilon must be in (0, 1), got \(epsilon)") }
            target = .errorBound(epsilon: epsilon)
        } else {
            guard density > 0, density <= 1 else { throw skInvalid("with epsilon <= 0, density must be in (0, 1], got \(density)") }
            target = .density(density)
        }
        let nn = shape.tokens, d = shape.headDim, e = dt.byteSize
        let geometry = try TileGeometry(tokens: nn, queryTile: tile, keyTile: 64)
        let qb = DeviceBuffer(device: s.device, borrowing: q, byteCount: nn * shape.queryHeads * d * e)
        let kb = DeviceBuffer(device: s.device, borrowing: k, byteCount: nn * shape.kvHeads * d * e)
        let st = GPUStream(device: s.device, borrowing: stream)
        // the previous mask's buffers may still be read by queued attention: order before reuse
        if s.lastMask != nil { try st.synchronize() }
        s.lastMask = nil
        let r = try s.estimator.estimate(q: qb, k: kb, shape: shape, dtype: dt, geometry: geometry, target: target, stream: st)
        s.lastMask = r
        rowOffsetsOut.pointee = r.mask.rowOffsets.pointer
        keyBlocksOut.pointee = r.mask.keyBlocks.pointer
    }
}

@_cdecl("sk_last_mask_capacity")
public func sk_last_mask_capacity(_ keyBlocksBytes: UnsafeMutablePointer<UInt64>?, _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    SKSession.call(err, errLen) { s in
        guard let keyBlocksBytes else { throw skInvalid("keyBlocksBytes must be non-null") }
        keyBlocksBytes.pointee = UInt64(s.lastMask?.mask.keyBlocks.byteCount ?? 0)
    }
}

@_cdecl("sk_copy_device")
public func sk_copy_device(_ dst: UInt64, _ src: UInt64, _ bytes: UInt64, _ stream: UInt64,
                           _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    SKSession.call(err, errLen) { s in
        guard bytes > 0 else { return }
        guard dst != 0, src != 0 else { throw skInvalid("dst and src must be non-null device pointers") }
        // ordered after the stream's queued work (the copy itself is synchronous)
        try GPUStream(device: s.device, borrowing: stream).synchronize()
        let from = DeviceBuffer(device: s.device, borrowing: src, byteCount: Int(bytes))
        let to = DeviceBuffer(device: s.device, borrowing: dst, byteCount: Int(bytes))
        try from.copy(to: to)
    }
}

@_cdecl("sk_device_info")
public func sk_device_info(_ out: UnsafeMutablePointer<CChar>?, _ outLen: Int32) -> Int32 {
    // on failure `out` receives the error message instead
    var info = ""
    let status = SKSession.call(out, outLen) { s in
        info = "\(s.device.name) \(s.device.arch), NVRTC \(s.compiler.nvrtcVersion.major).\(s.compiler.nvrtcVersion.minor)"
    }
    if status == 0 { SKSession.write(info, to: out, outLen) }
    return status
}
