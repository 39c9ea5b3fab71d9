import SparseSkeleton
import SparseSkeletonCUDA

/// Uploads a model's weights to the device and counts the bytes: matrices as bf16 (the operands
/// of cuBLAS's bf16 × bf16 → fp32 products), vectors and gathered tables as fp32.
struct GPUWeightUpload {
    let device: GPUDevice
    private(set) var byteCount = 0

    init(device: GPUDevice) { self.device = device }

    mutating func f32(_ a: [Float]) throws -> DeviceBuffer {
        let b = try DeviceBuffer(device: device, byteCount: a.count * 4)
        try b.upload(a); byteCount += b.byteCount
        return b
    }

    /// The parts one after the other as one bf16 buffer (e.g. W_q, W_k, W_v fused into one matrix).
    mutating func bf16(_ parts: [Float]...) throws -> DeviceBuffer {
        var bits: [UInt16] = []
        bits.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { for x in p { bits.append(HalfBits.floatToBF16(x)) } }
        let b = try DeviceBuffer(device: device, byteCount: bits.count * 2)
        try b.upload(bits); byteCount += b.byteCount
        return b
    }
}
