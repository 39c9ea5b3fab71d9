/// A CUDA stream (work queue) owned by this process; destroyed on deinit.
public final class GPUStream: @unchecked Sendable {
    let device: GPUDevice
    let handle: CUhandle
    public init(device: GPUDevice) throws {
        self.device = device
        var s: CUhandle = nil
        try device.api.check(device.api.cuStreamCreate(&s, 1 /* non-blocking */), "cuStreamCreate")
        handle = s
    }
    deinit { _ = device.api.cuStreamDestroy(handle) }
    public func synchronize() throws { try device.api.check(device.api.cuStreamSynchronize(handle), "cuStreamSynchronize") }
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
