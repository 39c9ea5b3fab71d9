import SparseSkeletonKernelParams

/// TMA tensor maps (CUtensorMap) for the kernels that load tiles with the bulk tensor copy engine.
extension GPUDevice {
    /// Whether this driver and GPU can run TMA kernels: sm_90a and a driver that encodes tensor maps.
    public var hasTensorMaps: Bool { api.cuTensorMapEncodeTiled != nil && arch == "sm_90a" }

    /// A tensor map over a row-major [rows, heads, headDim] tensor of `elementBytes`-byte elements (2: bf16/fp16,
    /// 1: e4m3) at `address`, read in boxes of `boxRows` rows × 128 bytes of one head with the 128-byte swizzle:
    /// the box lands in shared memory as [boxRows][128 B] in the layout the kernels' wgmma descriptors address.
    /// Rows at or past `rows` read as zeros.
    public func rowTensorMap(address: UInt64, rows: Int, heads: Int, headDim: Int, boxRows: Int, elementBytes: Int = 2) throws -> SKTensorMap {
        guard [1, 2].contains(elementBytes), rows > 0, heads > 0, (headDim * elementBytes) % 128 == 0, (1...256).contains(boxRows), address % 16 == 0 else {
            throw CUDAError.unsupported("tensor map: rows \(rows), heads \(heads), d \(headDim), \(elementBytes)-byte elements, box \(boxRows), address alignment \(address % 16)")
        }
        // dims innermost first: element in the row, head, row; strides (bytes) of dims 1 and 2
        return try tiledTensorMap(address: address, elementBytes: elementBytes,
                                  dims: [UInt64(headDim), UInt64(heads), UInt64(rows)],
                                  strides: [UInt64(headDim * elementBytes), UInt64(heads * headDim * elementBytes)],
                                  box: [UInt32(128 / elementBytes), 1, UInt32(boxRows)], what: "rows \(rows), heads \(heads), d \(headDim), box \(boxRows)")
    }

    /// A tensor map over a transposed 8-bit tensor [heads][rows][columns] (the FP8 kernel's Vᵀ: rows = d, columns = keys),
    /// read in boxes of 128 columns × `rows` rows of one head with the 128-byte swizzle.
    public func transposedTensorMap(address: UInt64, columns: Int, rows: Int, heads: Int) throws -> SKTensorMap {
        guard columns > 0, columns % 128 == 0, (1...256).contains(rows), heads > 0, address % 16 == 0 else {
            throw CUDAError.unsupported("transposed tensor map: columns \(columns) (a multiple of 128), rows \(rows) (≤ 256), heads \(heads), address alignment \(address % 16)")
        }
        return try tiledTensorMap(address: address, elementBytes: 1, dims: [UInt64(columns), UInt64(rows), UInt64(heads)],
                                  strides: [UInt64(columns), UInt64(rows * columns)], box: [128, UInt32(rows), 1],
                                  what: "transposed, columns \(columns), rows \(rows), heads \(heads)")
    }

    private func tiledTensorMap(address: UInt64, elementBytes: Int, dims: [UInt64], strides: [UInt64], box: [UInt32], what: String) throws -> SKTensorMap {
        guard let encode = api.cuTensorMapEncodeTiled else {
            throw CUDAError.unsupported("this NVIDIA driver has no cuTensorMapEncodeTiled (TMA needs CUDA 12 or newer)")
        }
        let elementStrides: [UInt32] = [1, 1, 1]
        // CUtensorMap must be 64-byte aligned: encode into an aligned scratch, then copy out
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<SKTensorMap>.size, alignment: 64)
        defer { scratch.deallocate() }
        let dataType: UInt32 = elementBytes == 1 ? 0 /* UINT8 */ : 1 /* UINT16 */
        let interleaveNone: UInt32 = 0, swizzle128: UInt32 = 3, l2Promote256: UInt32 = 3, fillZero: UInt32 = 0
        let r = encode(scratch, dataType, 3, UnsafeMutableRawPointer(bitPattern: UInt(address)), dims, strides, box, elementStrides,
                       interleaveNone, swizzle128, l2Promote256, fillZero)
        try api.check(r, "cuTensorMapEncodeTiled(\(what))")
        return scratch.load(as: SKTensorMap.self)
    }
}
