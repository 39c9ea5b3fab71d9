/// One CUDA device with its primary context made current (the context PyTorch also uses, so a
/// later in-process caller shares buffers with us). Load once per process and pass around.
public final class GPUDevice: @unchecked Sendable {
    let api: DriverAPI
    public let ordinal: Int
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessors: Int
    public let l2CacheBytes: Int
    public let maxSharedMemoryPerBlock: Int
    public let totalMemory: Int
    public let clockRateKHz: Int
    public let driverVersion: Int
    let device: CUdevice
    let context: CUhandle

    /// "sm_90a" on Hopper (wgmma-capable target), otherwise "sm_<major><minor>".
    public var arch: String {
        let base = "sm_\(computeCapability.major)\(computeCapability.minor)"
        return computeCapability.major == 9 && computeCapability.minor == 0 ? base + "a" : base
    }

    /// Loads libcuda, initialises the driver and retains device `ordinal`'s primary context.
    /// Throws a plain error when there is no driver, no GPU, or a GPU older than sm_80.
    public init(ordinal: Int = 0) throws {
        let api = try DriverAPI.load()
        self.api = api
        try api.check(api.cuInit(0), "cuInit")
        var count: Int32 = 0
        try api.check(api.cuDeviceGetCount(&count), "cuDeviceGetCount")
        guard count > 0 else { throw CUDAError.noDevice }
        guard ordinal >= 0, ordinal < Int(count) else {
            throw CUDAError.unsupported("device \(ordinal) requested but only \(count) present")
        }
        var dev: CUdevice = 0
        try api.check(api.cuDeviceGet(&dev, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
        var nameBytes = [CChar](repeating: 0, count: 256)
        try api.check(api.cuDeviceGetName(&nameBytes, 256, dev), "cuDeviceGetName")
        func attr(_ a: Int32, _ what: String) throws -> Int {
            var v: Int32 = 0
            try api.check(api.cuDeviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute(\(what))")
            return Int(v)
        }
        let major = try attr(DriverAPI.attrComputeCapabilityMajor, "compute capability major")
        let minor = try attr(DriverAPI.attrComputeCapabilityMinor, "compute capability minor")
        let name = String(cString: nameBytes)
        guard major >= 8 else { throw CUDAError.unsupportedArchitecture(major: major, minor: minor, name: name) }
        var total = 0
        try api.check(api.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem")
        var driver: Int32 = 0
        try api.check(api.cuDriverGetVersion(&driver), "cuDriverGetVersion")
        var ctx: CUhandle = nil
        try api.check(api.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain")
        try api.check(api.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        self.ordinal = ordinal; self.name = name; self.device = dev; self.context = ctx
        computeCapability = (major, minor)
        multiprocessors = try attr(DriverAPI.attrMultiprocessorCount, "multiprocessor count")
        l2CacheBytes = try attr(DriverAPI.attrL2CacheSize, "L2 size")
        maxSharedMemoryPerBlock = try attr(DriverAPI.attrMaxSharedMemoryPerBlockOptin, "max shared memory per block (opt-in)")
        clockRateKHz = try attr(DriverAPI.attrClockRateKHz, "clock rate")
        totalMemory = total
        driverVersion = Int(driver)
    }

    /// (free, total) device memory in bytes.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        var free = 0, total = 0
        try api.check(api.cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }

    public func synchronize() throws { try api.check(api.cuCtxSynchronize(), "cuCtxSynchronize") }

    /// Makes this device's primary context current on the calling thread (the context is
    /// per-thread state; a C ABI call may come from a thread other than the one that made this
    /// object). Added for the C ABI, Sources/SparseSkeletonC.
    public func makeCurrent() throws { try api.check(api.cuCtxSetCurrent(context), "cuCtxSetCurrent") }

    /// Driver version as "13.0".
    public var driverVersionString: String { "\(driverVersion / 1000).\((driverVersion % 1000) / 10)" }
}
