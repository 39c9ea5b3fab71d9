#if canImport(Glibc)
import Glibc
#endif
import SparseSkeletonCUDA

/// The two driver entry points the ABI needs beyond the backend's: an asynchronous
/// device-to-device copy (a mask leaves the estimator's workspace for the caller's buffers on the
/// caller's stream) and the stream-capture query (a time-budget calibration refuses to run inside
/// a CUDA-graph capture). Resolved from the libcuda the backend has already loaded.
struct SKDriverCalls {
    let copyAsync: @convention(c) (UInt64, UInt64, Int, OpaquePointer?) -> Int32
    let isCapturing: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Int32

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
            isCapturing: unsafeBitCast(try sym("cuStreamIsCapturing"), to: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Int32).self))
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

    /// True while `stream` is being captured into a CUDA graph.
    func capturing(_ stream: GPUStream) throws -> Bool {
        var status: Int32 = 0
        try check(isCapturing(stream.rawHandle, &status), "cuStreamIsCapturing")
        return status != 0
    }
}
