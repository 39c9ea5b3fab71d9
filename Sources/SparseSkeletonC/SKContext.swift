#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SparseSkeleton
import SparseSkeletonCUDA

/// One estimator with the stream its workspace was last used on and an event recorded after that
/// use: a call on another stream first waits for the event on the device (no host wait), so two
/// streams never race on one workspace. Inside a CUDA-graph capture nothing is recorded or
/// waited for (torch.cuda.graph synchronises the device before it captures).
final class SKEstimatorEntry {
    let estimator: DeviceMaskEstimator
    let calls: SKDriverCalls
    let event: OpaquePointer?
    var lastStream: UInt64? = nil

    init(_ estimator: DeviceMaskEstimator, calls: SKDriverCalls) throws {
        self.estimator = estimator; self.calls = calls
        event = try calls.makeEvent()
    }
    deinit { _ = calls.eventDestroy(event) }

    /// Orders `stream` after the workspace's last use on another stream.
    func acquire(_ stream: GPUStream, raw: UInt64, capturing: Bool) throws {
        if let last = lastStream, last != raw, !capturing {
            try calls.check(calls.streamWaitEvent(stream.rawHandle, event, 0), "cuStreamWaitEvent")
        }
    }

    /// Marks the workspace used on `stream` up to here.
    func release(_ stream: GPUStream, raw: UInt64, capturing: Bool) throws {
        guard !capturing else { return }
        try calls.check(calls.eventRecord(event, stream.rawHandle), "cuEventRecord")
        lastStream = raw
    }
}

/// What an `sk_context *` stands for: a `GPUSession` on one CUDA device (its primary context, the
/// one PyTorch uses; the caller's streams are borrowed per call) and the mask estimators, one
/// per (estimator, shape, tile, dtype), so that a workspace is not rebuilt when lengths alternate
/// (the least recently used of `estimatorCap` is dropped). Calls on one context are serialised by
/// its lock; contexts on different devices run independently.
final class SKContext {
    let gpu: GPUSession
    var device: GPUDevice { gpu.device }
    private var lock = pthread_mutex_t()
    private var estimators: [String: SKEstimatorEntry] = [:]
    private var estimatorOrder: [String] = []
    static let estimatorCap = 16
    /// Time-budget calibrations (sk_calibrate_time_budget): the attention cost model per head dim
    /// and dtype, the skeleton estimator's own time per shape and tile.
    var costModels: [String: TileCostModel] = [:]
    var estimationTimes: [String: GPUSkeletonEstimator.EstimationTime] = [:]

    init(device ordinal: Int) throws {
        gpu = try GPUSession(ordinal: ordinal)
        pthread_mutex_init(&lock, nil)
    }
    deinit { pthread_mutex_destroy(&lock) }

    /// Runs `body` under the context's lock with its device current on this thread.
    func locked<T>(_ body: () throws -> T) throws -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        try device.makeCurrent()
        return try body()
    }

    /// Estimator codes of sk_estimate_mask.
    static func estimatorName(_ code: Int32) throws -> String {
        switch code {
        case 0: return "skeleton"
        case 1: return "minference"
        default: throw skInvalid("estimator must be 0 (skeleton) or 1 (minference), got \(code)")
        }
    }

    static func costKey(headDim: Int, dtype: DType) -> String { "d\(headDim) \(dtype.rawValue)" }
    static func timeKey(shape: AttentionShape, queryTile: Int) -> String { "\(shape) tile \(queryTile)" }

    /// The estimator for one sequence shape (created on first use).
    func estimator(_ code: Int32, shape: AttentionShape, queryTile: Int, dtype: DType) throws -> SKEstimatorEntry {
        let name = try Self.estimatorName(code)
        let key = "\(name) \(shape) \(queryTile) \(dtype.rawValue)"
        if let e = estimators[key] {
            if estimatorOrder.last != key, let i = estimatorOrder.firstIndex(of: key) {
                estimatorOrder.remove(at: i); estimatorOrder.append(key)
            }
            configure(e.estimator, shape: shape, queryTile: queryTile, dtype: dtype)
            return e
        }
        if estimatorOrder.count >= Self.estimatorCap {
            estimators[estimatorOrder.removeFirst()] = nil
        }
        let made: DeviceMaskEstimator = code == 0 ? GPUSkeletonEstimator(library: gpu.library)
                                                  : GPUMInferenceEstimator(library: gpu.library)
        let e = try SKEstimatorEntry(made, calls: try SKDriverCalls.load())
        estimators[key] = e
        estimatorOrder.append(key)
        configure(made, shape: shape, queryTile: queryTile, dtype: dtype)
        return e
    }

    /// Hands a skeleton estimator this context's calibration for its shape (time budgets).
    private func configure(_ e: DeviceMaskEstimator, shape: AttentionShape, queryTile: Int, dtype: DType) {
        if let s = e as? GPUSkeletonEstimator {
            s.costModel = costModels[Self.costKey(headDim: shape.headDim, dtype: dtype)]
            s.estimationTime = estimationTimes[Self.timeKey(shape: shape, queryTile: queryTile)]
        }
    }
}

/// The live contexts by address: a call with a pointer that is not one (destroyed, foreign,
/// garbage) is refused with status 1 instead of being dereferenced.
enum SKContextRegistry {
    nonisolated(unsafe) static var live: [UInt: SKContext] = [:]
    nonisolated(unsafe) static var lock = pthread_mutex_t()
    nonisolated(unsafe) static var lockReady: Bool = {
        pthread_mutex_init(&SKContextRegistry.lock, nil)
        return true
    }()

    static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        _ = lockReady
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    static func add(_ c: SKContext) -> OpaquePointer {
        let p = Unmanaged.passUnretained(c).toOpaque()
        withLock { live[UInt(bitPattern: p)] = c }
        return OpaquePointer(p)
    }

    static func lookup(_ p: OpaquePointer?) throws -> SKContext {
        guard let p else { throw skInvalid("context is null: create one with sk_context_create") }
        guard let c = withLock({ live[UInt(bitPattern: UnsafeRawPointer(p))] }) else {
            throw skInvalid("context \(UnsafeRawPointer(p)) is not a live sk_context (destroyed, or not from sk_context_create)")
        }
        return c
    }

    static func remove(_ p: OpaquePointer?) -> Bool {
        guard let p else { return false }
        return withLock { live.removeValue(forKey: UInt(bitPattern: UnsafeRawPointer(p))) != nil }
    }
}

/// Runs `body` with the live context `ctx` under its lock; maps every error to a status and a message.
func skCall(_ ctx: OpaquePointer?, _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32, _ body: (SKContext) throws -> Void) -> Int32 {
    skRun(err, errLen) {
        let c = try SKContextRegistry.lookup(ctx)
        try c.locked { try body(c) }
    }
}

@_cdecl("sk_context_create")
public func sk_context_create(_ device: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                              _ err: UnsafeMutablePointer<CChar>?, _ errLen: Int32) -> Int32 {
    skRun(err, errLen) {
        guard let out else { throw skInvalid("out must be non-null") }
        out.pointee = nil
        guard device >= 0 else { throw skInvalid("device must be a CUDA device index ≥ 0, got \(device)") }
        let c = try SKContext(device: Int(device))
        _ = try SKDriverCalls.load()
        out.pointee = SKContextRegistry.add(c)
    }
}

@_cdecl("sk_context_destroy")
public func sk_context_destroy(_ ctx: OpaquePointer?) -> Int32 {
    // the caller orders this after the work it queued (its buffers, not ours, hold the results)
    SKContextRegistry.remove(ctx) ? SKStatus.ok.rawValue : SKStatus.invalidArgument.rawValue
}

@_cdecl("sk_context_device")
public func sk_context_device(_ ctx: OpaquePointer?) -> Int32 {
    guard let c = try? SKContextRegistry.lookup(ctx) else { return -1 }
    return Int32(c.device.ordinal)
}

@_cdecl("sk_device_info")
public func sk_device_info(_ ctx: OpaquePointer?, _ out: UnsafeMutablePointer<CChar>?, _ outLen: Int32) -> Int32 {
    // on failure `out` receives the error message instead
    var info = ""
    let status = skCall(ctx, out, outLen) { c in info = c.gpu.banner }
    if status == 0 { skWrite(info, to: out, outLen) }
    return status
}
