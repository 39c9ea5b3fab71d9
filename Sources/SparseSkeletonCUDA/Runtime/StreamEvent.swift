/// A CUDA stream (work queue) owned by this process; destroyed on deinit.
public final class GPUStream: @unchecked Sendable {
    let device: GPUDevice
    let handle: CUhandle
    private let owned: Bool
    public init(device: GPUDevice) throws {
        self.device = device
        var s: CUhandle = nil
        try device.api.check(device.api.cuStreamCreate(&s, 1 /* non-blocking */), "cuStreamCreate")
        handle = s
        owned = true
    }
    /// Wraps a stream created by someone else (e.g. PyTorch's `torch.cuda.current_stream().cuda_stream`,
    /// a CUstream / cudaStream_t as an integer) without owning it: never destroyed here, and the
    /// caller keeps it alive while this object is used. 0 is the legacy default stream.
    /// (Added for the C ABI, Sources/SparseSkeletonC; owned streams behave as before.)
    public init(device: GPUDevice, borrowing rawStream: UInt64) {
        self.device = device
        handle = OpaquePointer(bitPattern: UInt(rawStream))
        owned = false
    }
    deinit { if owned { _ = device.api.cuStreamDestroy(handle) } }
    public func synchronize() throws { try device.api.check(device.api.cuStreamSynchronize(handle), "cuStreamSynchronize") }
    /// True while work queued on this stream is being captured into a CUDA graph (where nothing may
    /// be allocated or synchronised).
    public func isCapturing() throws -> Bool {
        var status: Int32 = 0
        try device.api.check(device.api.cuStreamIsCapturing(handle, &status), "cuStreamIsCapturing")
        return status != 0
    }
    /// The CUstream itself (the same object as a cudaStream_t), for libraries such as cuBLAS that
    /// must queue their work on this stream. Valid while this object lives.
    public var rawHandle: OpaquePointer? { handle }
}

/// A CUDA event for timing on a stream; destroyed on deinit.
public final class GPUEvent: @unchecked Sendable {
    let device: GPUDevice
    let handle: CUhandle
    public init(device: GPUDevice) throws {
        self.device = device
        var e: CUhandle = nil
        try device.api.check(device.api.cuEventCreate(&e, 0), "cuEventCreate")
        handle = e
    }
    deinit { _ = device.api.cuEventDestroy(handle) }
    public func record(on stream: GPUStream) throws { try device.api.check(device.api.cuEventRecord(handle, stream.handle), "cuEventRecord") }
    public func synchronize() throws { try device.api.check(device.api.cuEventSynchronize(handle), "cuEventSynchronize") }
    /// Milliseconds from `start` to this event (both recorded and complete).
    public func milliseconds(since start: GPUEvent) throws -> Double {
        var ms: Float = 0
        try device.api.check(device.api.cuEventElapsedTime(&ms, start.handle, handle), "cuEventElapsedTime")
        return Double(ms)
    }
}
