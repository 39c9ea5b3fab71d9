// TRANSITION ONLY (deleted once every kernel takes its parameter struct): positional arguments.
extension GPUKernel {
    public func launch(grid: (Int, Int, Int), stream: GPUStream, args: [KernelArgument]) throws {
        try launch(grid: grid, threads: threads, sharedBytes: sharedBytes, stream: stream, args: args)
    }

    public func launch(grid: (Int, Int, Int), threads: Int, sharedBytes: Int, stream: GPUStream, args: [KernelArgument]) throws {
        guard grid.0 > 0, grid.1 > 0, grid.2 > 0 else { return }
        try allowShared(sharedBytes)
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(1, args.count) * 8, alignment: 8)
        defer { storage.deallocate() }
        var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: args.count)
        for (i, a) in args.enumerated() {
            let slot = storage + 8 * i
            a.store(to: slot)
            pointers[i] = slot
        }
        let r = pointers.withUnsafeMutableBufferPointer { p in
            device.api.cuLaunchKernel(function.handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(threads), 1, 1,
                                      UInt32(sharedBytes), stream.handle, p.baseAddress, nil)
        }
        try device.api.check(r, "cuLaunchKernel(\(compiled.name), grid \(grid), \(threads) threads, \(sharedBytes) B shared)")
    }
}

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
