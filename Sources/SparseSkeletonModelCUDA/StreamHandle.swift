import SparseSkeletonCUDA

/// The raw CUstream behind a `GPUStream`, for handing to cuBLAS (cublasSetStream) so that its
/// products run on the same queue as our kernels and the attention kernel, in order, with no
/// extra synchronisation.
///
/// `GPUStream` keeps its handle internal to SparseSkeletonCUDA (owned by another part of the
/// project); rather than change that contract we read the stored property by reflection. If the
/// property is ever renamed this fails with a named error, never silently (a test checks it).
enum StreamHandle {
    static func raw(_ stream: GPUStream) throws -> OpaquePointer? {
        for child in Mirror(reflecting: stream).children where child.label == "handle" {
            if let p = child.value as? OpaquePointer { return p }
            if let p = child.value as? OpaquePointer? { return p }
        }
        throw CUDAError.unsupported("GPUStream exposes no 'handle' property to hand its CUstream to cuBLAS")
    }
}
