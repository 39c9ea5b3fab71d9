/// A loaded kernel: module + function, its resource report and the occupancy the driver sees.
public final class GPUKernel: @unchecked Sendable {
    let device: GPUDevice
    let module: CUhandle
    let function: CUhandle
    public let compiled: CompiledKernel
    public let threads: Int
    public let sharedBytes: Int

    /// Loads `compiled` into the current context and raises its dynamic shared-memory limit.
    public init(device: GPUDevice, compiled: CompiledKernel, threads: Int, sharedBytes: Int) throws {
        guard sharedBytes <= device.maxSharedMemoryPerBlock else {
            throw CUDAError.unsupported("\(compiled.name) needs \(sharedBytes) B shared memory per block; \(device.name) allows \(device.maxSharedMemoryPerBlock)")
        }
        self.device = device; self.compiled = compiled; self.threads = threads; self.sharedBytes = sharedBytes
        var m: CUhandle = nil
        try compiled.cubin.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { throw CUDAError.unsupported("\(compiled.name): empty cubin") }
            try device.api.check(device.api.cuModuleLoadData(&m, base), "cuModuleLoadData(\(compiled.name))")
        }
        module = m
        var f: CUhandle = nil
        try device.api.check(device.api.cuModuleGetFunction(&f, m, compiled.entry), "cuModuleGetFunction(\(compiled.entry))")
        function = f
        try device.api.check(device.api.cuFuncSetAttribute(f, DriverAPI.funcAttrMaxDynamicSharedSizeBytes, Int32(sharedBytes)),
                             "cuFuncSetAttribute(max dynamic shared = \(sharedBytes))")
    }

    deinit { _ = device.api.cuModuleUnload(module) }

    /// Resident blocks per multiprocessor at this block size and shared memory.
    public func blocksPerMultiprocessor() throws -> Int {
        var n: Int32 = 0
        try device.api.check(device.api.cuOccupancyMaxActiveBlocksPerMultiprocessor(&n, function, Int32(threads), sharedBytes), "cuOccupancyMaxActiveBlocksPerMultiprocessor")
        return Int(n)
    }

    /// Launches on `stream` with `args` (each a value the kernel takes by value: UInt64 device
    /// pointers, Int32, Float). The argument pointers live for the duration of the call.
    public func launch(grid: (Int, Int, Int), stream: GPUStream, args: [KernelArgument]) throws {
        try launch(grid: grid, threads: threads, sharedBytes: sharedBytes, stream: stream, args: args)
    }

    /// Launches with a block size and dynamic shared memory of this launch (≤ the size given at
    /// load time, which set the function's limit).
    public func launch(grid: (Int, Int, Int), threads: Int, sharedBytes: Int, stream: GPUStream, args: [KernelArgument]) throws {
        guard sharedBytes <= self.sharedBytes else {
            throw CUDAError.unsupported("\(compiled.name): launch asks \(sharedBytes) B shared memory, loaded for at most \(self.sharedBytes)")
        }
        guard grid.0 > 0, grid.1 > 0, grid.2 > 0 else { return }  // nothing to do
        // one 8-byte slot per argument in a single allocation (estimators launch dozens of kernels
        // per call; the host must stay ahead of the GPU)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, args.count) * 8, alignment: 8)
        defer { storage.deallocate() }
        var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: args.count)
        for (i, a) in args.enumerated() {
            let slot = storage + 8 * i
            a.store(to: slot)
            pointers[i] = slot
        }
        let r = pointers.withUnsafeMutableBufferPointer { p in
            device.api.cuLaunchKernel(function, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(threads), 1, 1,
                                      UInt32(sharedBytes), stream.handle, p.baseAddress, nil)
        }
        try device.api.check(r, "cuLaunchKernel(\(compiled.name), grid \(grid), \(threads) threads, \(sharedBytes) B shared)")
    }
}

/// One kernel argument, passed by value.
public enum KernelArgument {
    case pointer(UInt64)
    case int32(Int32)
    case int64(Int64)
    case float(Float)

    public static func buffer(_ b: DeviceBuffer?) -> KernelArgument { .pointer(b?.pointer ?? 0) }

    func store(to p: UnsafeMutableRawPointer) {
        switch self {
        case .pointer(let v): p.storeBytes(of: v, as: UInt64.self)
        case .int32(let v): p.storeBytes(of: v, as: Int32.self)
        case .int64(let v): p.storeBytes(of: v, as: Int64.self)
        case .float(let v): p.storeBytes(of: v, as: Float.self)
        }
    }
}
