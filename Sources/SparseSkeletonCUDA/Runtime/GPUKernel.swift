/// One loaded module (cubin) in the device's context, unloaded when the last kernel of it goes.
final class GPUModule: @unchecked Sendable {
    let device: GPUDevice
    let handle: CUhandle
    let compiled: CompiledKernel

    init(device: GPUDevice, compiled: CompiledKernel) throws {
        self.device = device; self.compiled = compiled
        var m: CUhandle = nil
        try compiled.cubin.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { throw CUDAError.unsupported("\(compiled.name): empty cubin") }
            try device.api.check(device.api.cuModuleLoadData(&m, base), "cuModuleLoadData(\(compiled.name))")
        }
        handle = m
    }

    deinit { _ = device.api.cuModuleUnload(handle) }
}

/// One function of a loaded module and its dynamic shared-memory limit (raised on demand, never
/// lowered: every `GPUKernel` of the function shares this object).
final class GPUFunction: @unchecked Sendable {
    let module: GPUModule
    let entry: String
    let handle: CUhandle
    private var sharedLimit = 0

    init(module: GPUModule, entry: String) throws {
        self.module = module; self.entry = entry
        var f: CUhandle = nil
        try module.device.api.check(module.device.api.cuModuleGetFunction(&f, module.handle, entry), "cuModuleGetFunction(\(entry))")
        handle = f
    }

    func allowShared(_ bytes: Int) throws {
        guard bytes > sharedLimit else { return }
        let device = module.device
        guard bytes <= device.maxSharedMemoryPerBlock else {
            throw CUDAError.unsupported("\(module.compiled.name) (\(entry)) needs \(bytes) B shared memory per block; \(device.name) allows \(device.maxSharedMemoryPerBlock)")
        }
        try device.api.check(device.api.cuFuncSetAttribute(handle, DriverAPI.funcAttrMaxDynamicSharedSizeBytes, Int32(bytes)),
                             "cuFuncSetAttribute(\(entry), max dynamic shared = \(bytes))")
        sharedLimit = bytes
    }
}

/// A kernel with its default launch shape (threads, dynamic shared memory). Launches take the
/// kernel's parameter struct (SparseSkeletonKernelParams) by value.
public final class GPUKernel: @unchecked Sendable {
    let function: GPUFunction
    public let threads: Int
    public let sharedBytes: Int
    public var entry: String { function.entry }
    public var compiled: CompiledKernel { function.module.compiled }
    var device: GPUDevice { function.module.device }

    init(function: GPUFunction, threads: Int, sharedBytes: Int) throws {
        self.function = function; self.threads = threads; self.sharedBytes = sharedBytes
        try function.allowShared(sharedBytes)
    }

    func allowShared(_ bytes: Int) throws { try function.allowShared(bytes) }

    /// Resident blocks per multiprocessor at the default block size and shared memory.
    public func blocksPerMultiprocessor() throws -> Int {
        var n: Int32 = 0
        try device.api.check(device.api.cuOccupancyMaxActiveBlocksPerMultiprocessor(&n, function.handle, Int32(threads), sharedBytes),
                             "cuOccupancyMaxActiveBlocksPerMultiprocessor")
        return Int(n)
    }

    /// Launches on `stream` with `params`, the kernel's parameter struct, as its only argument
    /// (the kernel takes it `__grid_constant__` by value). `threads` / `sharedBytes` default to the
    /// kernel's own. An empty grid launches nothing. `cooperative`: cuLaunchCooperativeKernel, which
    /// guarantees that every CTA is resident at once (or fails) — for kernels with grid barriers.
    public func launch<Params>(grid: (Int, Int, Int), threads: Int? = nil, sharedBytes: Int? = nil, stream: GPUStream,
                               cooperative: Bool = false, params: Params) throws {
        let threads = threads ?? self.threads, shared = sharedBytes ?? self.sharedBytes
        guard grid.0 > 0, grid.1 > 0, grid.2 > 0 else { return }
        guard grid.1 <= 65535, grid.2 <= 65535, grid.0 <= Int(Int32.max) else {
            throw CUDAError.unsupported("\(entry): grid \(grid) exceeds the device's grid limits")
        }
        guard MemoryLayout<Params>.size <= 4096 else {
            throw CUDAError.unsupported("\(entry): parameter struct of \(MemoryLayout<Params>.size) B exceeds 4 KiB")
        }
        try allowShared(shared)
        var value = params
        let r = withUnsafeMutableBytes(of: &value) { raw -> CUresult in
            var argument: UnsafeMutableRawPointer? = raw.baseAddress
            return withUnsafeMutablePointer(to: &argument) { slot in
                cooperative
                    ? device.api.cuLaunchCooperativeKernel(function.handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(threads), 1, 1,
                                                           UInt32(shared), stream.handle, slot)
                    : device.api.cuLaunchKernel(function.handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(threads), 1, 1,
                                                UInt32(shared), stream.handle, slot, nil)
            }
        }
        try device.api.check(r, "\(cooperative ? "cuLaunchCooperativeKernel" : "cuLaunchKernel")(\(compiled.name) \(entry), grid \(grid), \(threads) threads, \(shared) B shared)")
    }
}
