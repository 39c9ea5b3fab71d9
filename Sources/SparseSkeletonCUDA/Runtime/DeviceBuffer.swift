/// Device memory that frees itself when the last reference goes. Sizes in bytes.
public final class DeviceBuffer: @unchecked Sendable {
    let device: GPUDevice
    public let pointer: UInt64
    public let byteCount: Int
    private let owned: Bool

    /// Allocates `byteCount` bytes; an allocation larger than free memory is refused up front
    /// with `outOfMemory` (and CUDA_ERROR_OUT_OF_MEMORY is mapped to the same error).
    public init(device: GPUDevice, byteCount: Int) throws {
        self.device = device
        self.byteCount = max(byteCount, 1)
        let (free, total) = try device.memoryInfo()
        guard self.byteCount <= free else { throw CUDAError.outOfMemory(requestedBytes: self.byteCount, freeBytes: free, totalBytes: total) }
        var p: CUdeviceptr = 0
        let r = device.api.cuMemAlloc(&p, self.byteCount)
        if r == 2 { throw CUDAError.outOfMemory(requestedBytes: self.byteCount, freeBytes: free, totalBytes: total) }
        try device.api.check(r, "cuMemAlloc(\(formatBytes(self.byteCount)))")
        pointer = p
        owned = true
    }

    /// Wraps device memory allocated by someone else (e.g. a PyTorch tensor's `data_ptr()`, in the
    /// same primary context) without owning it: never freed here; the caller keeps it alive while
    /// this object is used. (Added for the C ABI, Sources/SparseSkeletonC; owned buffers behave as before.)
    public init(device: GPUDevice, borrowing pointer: UInt64, byteCount: Int) {
        self.device = device
        self.pointer = pointer
        self.byteCount = byteCount
        owned = false
    }

    deinit { if owned { _ = device.api.cuMemFree(pointer) } }

    /// Copies a host array in (its byte size must fit).
    public func upload<T>(_ values: [T]) throws {
        let bytes = values.count * MemoryLayout<T>.stride
        guard bytes <= byteCount else { throw CUDAError.unsupported("upload of \(bytes) B into a \(byteCount) B buffer") }
        try values.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, bytes > 0 else { return }
            try device.api.check(device.api.cuMemcpyHtoD(pointer, base, bytes), "cuMemcpyHtoD(\(bytes) B)")
        }
    }

    /// Copies `count` elements of T out.
    public func download<T>(_ type: T.Type, count: Int) throws -> [T] {
        let bytes = count * MemoryLayout<T>.stride
        guard bytes <= byteCount else { throw CUDAError.unsupported("download of \(bytes) B from a \(byteCount) B buffer") }
        return try [T](unsafeUninitializedCapacity: count) { buf, initialized in
            if bytes > 0, let base = buf.baseAddress {
                try device.api.check(device.api.cuMemcpyDtoH(UnsafeMutableRawPointer(base), pointer, bytes), "cuMemcpyDtoH(\(bytes) B)")
            }
            initialized = count
        }
    }

    /// Fills the whole buffer with a repeated 32-bit pattern (e.g. NaN poison).
    public func fill32(_ pattern: UInt32) throws {
        try device.api.check(device.api.cuMemsetD32(pointer, pattern, byteCount / 4), "cuMemsetD32")
    }

    /// Fills with a byte value.
    public func fill8(_ value: UInt8) throws {
        try device.api.check(device.api.cuMemsetD8(pointer, value, byteCount), "cuMemsetD8")
    }

    /// Device-to-device copy of this buffer's bytes into `other`.
    public func copy(to other: DeviceBuffer) throws {
        try device.api.check(device.api.cuMemcpyDtoD(other.pointer, pointer, min(byteCount, other.byteCount)), "cuMemcpyDtoD")
    }
}
