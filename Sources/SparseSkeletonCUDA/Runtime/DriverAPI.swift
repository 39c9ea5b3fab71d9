import SparseSkeleton
/// The CUDA driver API entry points we use, resolved by name from libcuda.so.1 with dlsym.
/// Types follow cuda.h: CUresult is an int enum, CUdevice an int, CUdeviceptr a 64-bit integer,
/// every handle (context, module, function, stream, event) an opaque pointer.
typealias CUresult = Int32
typealias CUdevice = Int32
typealias CUdeviceptr = UInt64
typealias CUhandle = OpaquePointer?

struct DriverAPI: @unchecked Sendable {
    let library: DynamicLibrary
    let cuInit: @convention(c) (UInt32) -> CUresult
    let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    let cuGetErrorName: @convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult
    let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> CUresult
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<CUdevice>, Int32) -> CUresult
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, CUdevice) -> CUresult
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, CUdevice) -> CUresult
    let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, CUdevice) -> CUresult
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<CUhandle>, CUdevice) -> CUresult
    let cuCtxSetCurrent: @convention(c) (CUhandle) -> CUresult
    let cuCtxSynchronize: @convention(c) () -> CUresult
    let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult
    let cuMemFree: @convention(c) (CUdeviceptr) -> CUresult
    let cuMemcpyHtoD: @convention(c) (CUdeviceptr, UnsafeRawPointer, Int) -> CUresult
    let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer, CUdeviceptr, Int) -> CUresult
    let cuMemcpyDtoD: @convention(c) (CUdeviceptr, CUdeviceptr, Int) -> CUresult
    let cuMemsetD8: @convention(c) (CUdeviceptr, UInt8, Int) -> CUresult
    let cuMemsetD32: @convention(c) (CUdeviceptr, UInt32, Int) -> CUresult
    let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<CUhandle>, UnsafeRawPointer) -> CUresult
    let cuModuleUnload: @convention(c) (CUhandle) -> CUresult
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<CUhandle>, CUhandle, UnsafePointer<CChar>) -> CUresult
    let cuFuncSetAttribute: @convention(c) (CUhandle, Int32, Int32) -> CUresult
    let cuFuncGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, CUhandle) -> CUresult
    let cuOccupancyMaxActiveBlocksPerMultiprocessor: @convention(c) (UnsafeMutablePointer<Int32>, CUhandle, Int32, Int) -> CUresult
    let cuLaunchKernel: @convention(c) (CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult
    let cuLaunchCooperativeKernel: @convention(c) (CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle,
                                                   UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult
    let cuStreamCreate: @convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> CUresult
    let cuStreamDestroy: @convention(c) (CUhandle) -> CUresult
    let cuStreamSynchronize: @convention(c) (CUhandle) -> CUresult
    let cuStreamIsCapturing: @convention(c) (CUhandle, UnsafeMutablePointer<Int32>) -> CUresult
    let cuEventCreate: @convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> CUresult
    let cuEventDestroy: @convention(c) (CUhandle) -> CUresult
    let cuEventRecord: @convention(c) (CUhandle, CUhandle) -> CUresult
    let cuEventSynchronize: @convention(c) (CUhandle) -> CUresult
    let cuEventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, CUhandle, CUhandle) -> CUresult
    /// TMA tensor maps (driver ≥ 12.0); nil on an older driver, where the TMA kernel is not offered.
    let cuTensorMapEncodeTiled: (@convention(c) (UnsafeMutableRawPointer, UInt32, UInt32, UnsafeMutableRawPointer?, UnsafePointer<UInt64>, UnsafePointer<UInt64>, UnsafePointer<UInt32>, UnsafePointer<UInt32>, UInt32, UInt32, UInt32, UInt32) -> CUresult)?

    // CUdevice_attribute values (cuda.h).
    static let attrClockRateKHz: Int32 = 13
    static let attrMultiprocessorCount: Int32 = 16
    static let attrL2CacheSize: Int32 = 38
    static let attrComputeCapabilityMajor: Int32 = 75
    static let attrComputeCapabilityMinor: Int32 = 76
    static let attrMaxSharedMemoryPerBlockOptin: Int32 = 97
    // CUfunction_attribute values.
    static let funcAttrLocalSizeBytes: Int32 = 3
    static let funcAttrNumRegs: Int32 = 4
    static let funcAttrMaxDynamicSharedSizeBytes: Int32 = 8

    /// Where libcuda.so.1 may live (the loader's own search first).
    static var candidates: [String] {
        var c = ["libcuda.so.1", "libcuda.so"]
        let o = LibrarySearch.override("SKELETON_LIBCUDA")
        if let p = o.path ?? o.note { c.insert(p, at: 0) }  // a note is listed as searched, never opened
        for dir in ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"] {
            c.append(dir + "/libcuda.so.1")
        }
        return c
    }

    static func load() throws -> DriverAPI {
        let (lib, tried) = DynamicLibrary.open(candidates: candidates)
        guard let lib else {
            throw CUDAError.libraryNotFound(library: "libcuda.so.1 (NVIDIA driver)", searched: tried,
                                            hint: "No NVIDIA driver on this machine; the GPU commands need one (set SKELETON_LIBCUDA to its path if it is elsewhere).")
        }
        return try DriverAPI(
            library: lib,
            cuInit: lib.symbol("cuInit", as: (@convention(c) (UInt32) -> CUresult).self),
            cuDriverGetVersion: lib.symbol("cuDriverGetVersion", as: (@convention(c) (UnsafeMutablePointer<Int32>) -> CUresult).self),
            cuGetErrorName: lib.symbol("cuGetErrorName", as: (@convention(c) (CUresult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CUresult).self),
            cuDeviceGetCount: lib.symbol("cuDeviceGetCount", as: (@convention(c) (UnsafeMutablePointer<Int32>) -> CUresult).self),
            cuDeviceGet: lib.symbol("cuDeviceGet", as: (@convention(c) (UnsafeMutablePointer<CUdevice>, Int32) -> CUresult).self),
            cuDeviceGetName: lib.symbol("cuDeviceGetName", as: (@convention(c) (UnsafeMutablePointer<CChar>, Int32, CUdevice) -> CUresult).self),
            cuDeviceGetAttribute: lib.symbol("cuDeviceGetAttribute", as: (@convention(c) (UnsafeMutablePointer<Int32>, Int32, CUdevice) -> CUresult).self),
            cuDeviceTotalMem: lib.symbol("cuDeviceTotalMem_v2", "cuDeviceTotalMem", as: (@convention(c) (UnsafeMutablePointer<Int>, CUdevice) -> CUresult).self),
            cuDevicePrimaryCtxRetain: lib.symbol("cuDevicePrimaryCtxRetain", as: (@convention(c) (UnsafeMutablePointer<CUhandle>, CUdevice) -> CUresult).self),
            cuCtxSetCurrent: lib.symbol("cuCtxSetCurrent", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuCtxSynchronize: lib.symbol("cuCtxSynchronize", as: (@convention(c) () -> CUresult).self),
            cuMemGetInfo: lib.symbol("cuMemGetInfo_v2", "cuMemGetInfo", as: (@convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CUresult).self),
            cuMemAlloc: lib.symbol("cuMemAlloc_v2", as: (@convention(c) (UnsafeMutablePointer<CUdeviceptr>, Int) -> CUresult).self),
            cuMemFree: lib.symbol("cuMemFree_v2", as: (@convention(c) (CUdeviceptr) -> CUresult).self),
            cuMemcpyHtoD: lib.symbol("cuMemcpyHtoD_v2", as: (@convention(c) (CUdeviceptr, UnsafeRawPointer, Int) -> CUresult).self),
            cuMemcpyDtoH: lib.symbol("cuMemcpyDtoH_v2", as: (@convention(c) (UnsafeMutableRawPointer, CUdeviceptr, Int) -> CUresult).self),
            cuMemcpyDtoD: lib.symbol("cuMemcpyDtoD_v2", as: (@convention(c) (CUdeviceptr, CUdeviceptr, Int) -> CUresult).self),
            cuMemsetD8: lib.symbol("cuMemsetD8_v2", as: (@convention(c) (CUdeviceptr, UInt8, Int) -> CUresult).self),
            cuMemsetD32: lib.symbol("cuMemsetD32_v2", as: (@convention(c) (CUdeviceptr, UInt32, Int) -> CUresult).self),
            cuModuleLoadData: lib.symbol("cuModuleLoadData", as: (@convention(c) (UnsafeMutablePointer<CUhandle>, UnsafeRawPointer) -> CUresult).self),
            cuModuleUnload: lib.symbol("cuModuleUnload", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuModuleGetFunction: lib.symbol("cuModuleGetFunction", as: (@convention(c) (UnsafeMutablePointer<CUhandle>, CUhandle, UnsafePointer<CChar>) -> CUresult).self),
            cuFuncSetAttribute: lib.symbol("cuFuncSetAttribute", as: (@convention(c) (CUhandle, Int32, Int32) -> CUresult).self),
            cuFuncGetAttribute: lib.symbol("cuFuncGetAttribute", as: (@convention(c) (UnsafeMutablePointer<Int32>, Int32, CUhandle) -> CUresult).self),
            cuOccupancyMaxActiveBlocksPerMultiprocessor: lib.symbol("cuOccupancyMaxActiveBlocksPerMultiprocessor", as: (@convention(c) (UnsafeMutablePointer<Int32>, CUhandle, Int32, Int) -> CUresult).self),
            cuLaunchKernel: lib.symbol("cuLaunchKernel", as: (@convention(c) (CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle,
                                                                                UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult).self),
            cuLaunchCooperativeKernel: lib.symbol("cuLaunchCooperativeKernel", as: (@convention(c) (CUhandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CUhandle,
                                                                                                    UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> CUresult).self),
            cuStreamCreate: lib.symbol("cuStreamCreate", as: (@convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> CUresult).self),
            cuStreamDestroy: lib.symbol("cuStreamDestroy_v2", "cuStreamDestroy", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuStreamSynchronize: lib.symbol("cuStreamSynchronize", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuStreamIsCapturing: lib.symbol("cuStreamIsCapturing", as: (@convention(c) (CUhandle, UnsafeMutablePointer<Int32>) -> CUresult).self),
            cuEventCreate: lib.symbol("cuEventCreate", as: (@convention(c) (UnsafeMutablePointer<CUhandle>, UInt32) -> CUresult).self),
            cuEventDestroy: lib.symbol("cuEventDestroy_v2", "cuEventDestroy", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuEventRecord: lib.symbol("cuEventRecord", as: (@convention(c) (CUhandle, CUhandle) -> CUresult).self),
            cuEventSynchronize: lib.symbol("cuEventSynchronize", as: (@convention(c) (CUhandle) -> CUresult).self),
            cuEventElapsedTime: lib.symbol("cuEventElapsedTime_v2", "cuEventElapsedTime", as: (@convention(c) (UnsafeMutablePointer<Float>, CUhandle, CUhandle) -> CUresult).self),
            cuTensorMapEncodeTiled: lib.has("cuTensorMapEncodeTiled") ? lib.symbol("cuTensorMapEncodeTiled", as: (@convention(c) (UnsafeMutableRawPointer, UInt32, UInt32, UnsafeMutableRawPointer?, UnsafePointer<UInt64>, UnsafePointer<UInt64>, UnsafePointer<UInt32>, UnsafePointer<UInt32>, UInt32, UInt32, UInt32, UInt32) -> CUresult).self) : nil
        )
    }

    /// The CUresult's symbolic name ("CUDA_ERROR_OUT_OF_MEMORY").
    func errorName(_ r: CUresult) -> String {
        var p: UnsafePointer<CChar>? = nil
        guard cuGetErrorName(r, &p) == 0, let p else { return "CUresult \(r)" }
        return String(cString: p)
    }

    /// Throws `CUDAError.driver` naming `call` unless `r` is CUDA_SUCCESS.
    func check(_ r: CUresult, _ call: @autoclosure () -> String) throws {
        if r != 0 { throw CUDAError.driver(call: call(), code: r, name: errorName(r)) }
    }
}
