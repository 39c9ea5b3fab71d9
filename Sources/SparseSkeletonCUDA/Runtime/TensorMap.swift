import SparseSkeletonKernelParams

/// TMA tensor maps (CUtensorMap) for the kernels that load tiles with the bulk tensor copy engine.
extension GPUDevice {
    /// Whether this driver and GPU can run TMA kernels: sm_90a and a driver that encodes tensor maps.
    public var hasTensorMaps: Bool { api.cuTensorMapEncodeTiled != nil && arch == "sm_90a" }

    /// A tensor map over a row-major [rows, heads, headDim] 16-bit tensor at `address`, read in boxes
    /// of `boxRows` rows × 64 elements (128 bytes) of one head with the 128-byte swizzle: the box lands
    /// in shared memory as [boxRows][64] in the layout the kernels' wgmma descriptors address. Rows at
    /// or past `rows` read as zeros.
    public func rowTensorMap(address: UInt64, rows: Int, heads: Int, headDim: Int, boxRows: Int) throws -> SKTensorMap {
        guard let encode = api.cuTensorMapEncodeTiled else {
            throw CUDAError.unsupported("this NVIDIA driver has no cuTensorMapEncodeTiled (TMA needs CUDA 12 or newer)")
        }
        guard rows > 0, heads > 0, headDim % 64 == 0, (1...256).contains(boxRows), address % 16 == 0 else {
            throw CUDAError.unsupported("tensor map: rows \(rows), heads \(heads), d \(headDim), box \(boxRows), address alignment \(address % 16)")
        }
        // dims innermost first: element in the row, head, row; strides (bytes) of dims 1 and 2
        let dims: [UInt64] = [UInt64(headDim), UInt64(heads), UInt64(rows)]
        let strides: [UInt64] = [UInt64(headDim * 2), UInt64(heads * headDim * 2)]
        let box: [UInt32] = [64, 1, UInt32(boxRows)]
        let elementStrides: [UInt32] = [1, 1, 1]
        // CUtensorMap must be 64-byte aligned: encode into an aligned scratch, then copy out
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<SKTensorMap>.size, alignment: 64)
        defer { scratch.deallocate() }
        let uint16: UInt32 = 1, interleaveNone: UInt32 = 0, swizzle128: UInt32 = 3, l2Promote256: UInt32 = 3, fillZero: UInt32 = 0
        let r = encode(scratch, uint16, 3, UnsafeMutableRawPointer(bitPattern: UInt(address)), dims, strides, box, elementStrides,
                       interleaveNone, swizzle128, l2Promote256, fillZero)
        try api.check(r, "cuTensorMapEncodeTiled(rows \(rows), heads \(heads), d \(headDim), box \(boxRows)×64)")
        return scratch.load(as: SKTensorMap.self)
    }
}
