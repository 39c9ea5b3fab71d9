import SparseSkeletonCUDA

/// A fresh GPU session, or nil after printing "no GPU: skipped <test> (<reason>)" where this
/// machine has no usable GPU path (no driver, no device, no NVRTC).
func gpuSession(for test: String) -> GPUSession? {
    do { return try GPUSession() } catch {
        print("no GPU: skipped \(test) (\(error))")
        return nil
    }
}
