#if canImport(Glibc)
import Glibc
#endif
import SparseSkeletonCUDA

/// The driver entry points the ABI needs beyond the backend's: an asynchronous device-to-device
/// copy (a mask leaves the estimator's workspace for the caller's buffers on the caller's stream)
/// and events to order an estimator's workspace between two streams
/// without the host. Resolved from the libcuda the backend has already loaded.
struct SKDriverCalls {
    let copyAsync: @convention(c) (UInt64, UInt64, Int, OpaquePointer?) -> Int32
    let eventCreate: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> Int32
    let eventRecord: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
    let eventDestroy: @convention(c) (OpaquePointer?) -> Int32
    let streamWaitEvent: @convention(c) (OpaquePointer?, OpaquePointer?, UInt32) -> Int32

    nonisolated(unsafe) static var loaded: SKDriverCalls?

    /// Loads them once (after a GPUSession exists, so libcuda is in the process).
    static func load() throws -> SKDriverCalls {
        if let l = loaded { return l }
        guard let handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) ?? dlopen("libcuda.so", RTLD_NOW | RTLD_NOLOAD) else {
            throw SKFailure(status: .noGPU, message: "libcuda is not loaded in this process")
        }
        func sym(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(handle, name) else { throw SKFailure(status: .noGPU, message: "libcuda has no \(name)") }
            return p
        }
        let calls = SKDriverCalls(
            copyAsync: unsafeBitCast(try sym("cuMemcpyDtoDAsync_v2"), to: (@convention(c) (UInt64, UInt64, Int, OpaquePointer?) -> Int32).self),
            eventCreate: unsafeBitCast(try sym("cuEventCreate"), to: (@convention(c) (UnsafeMutablePointer<OpaquePointer?>, UInt32) -> Int32).self),
            eventRecord: unsafeBitCast(try sym("cuEventRecord"), to: (@convention(c) (OpaquePointer?, OpaquePointer?) -> Int32).self),
            eventDestroy: unsafeBitCast(try sym("cuEventDestroy_v2"), to: (@convention(c) (OpaquePointer?) -> Int32).self),
            streamWaitEvent: unsafeBitCast(try sym("cuStreamWaitEvent"), to: (@convention(c) (OpaquePointer?, OpaquePointer?, UInt32) -> Int32).self))
        loaded = calls
        return calls
    }

    func check(_ r: Int32, _ call: String) throws {
        if r != 0 { throw SKFailure(status: .cuda, message: "\(call) failed (CUresult \(r))") }
    }

    /// Queues a copy of `bytes` bytes from `src` to `dst` on `stream`.
    func copy(to dst: UInt64, from src: UInt64, bytes: Int, stream: GPUStream) throws {
        guard bytes > 0 else { return }
        try check(copyAsync(dst, src, bytes, stream.rawHandle), "cuMemcpyDtoDAsync(\(bytes) B)")
    }

    /// A timing-free event (CU_EVENT_DISABLE_TIMING).
    func makeEvent() throws -> OpaquePointer? {
        var e: OpaquePointer? = nil
        try check(eventCreate(&e, 2), "cuEventCreate")
        return e
    }
}
