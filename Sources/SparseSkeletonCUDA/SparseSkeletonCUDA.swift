/// GPU backend: CUDA driver API and NVRTC loaded with dlopen (nothing linked at build time),
/// kernels compiled at run time for the device's architecture.
public enum SparseSkeletonCUDA {}
