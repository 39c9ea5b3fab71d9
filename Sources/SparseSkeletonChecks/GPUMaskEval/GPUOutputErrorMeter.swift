import Dispatch
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModelCUDA

/// The output error of a mask on the GPU: our block-sparse kernel on the tapped layer's Q/K/V
/// with the mask, against the dense pass's output, per head ‖O_sparse − O_dense‖ / ‖O_dense‖ over
/// every row (no per-tile partial outputs needed). The output is poisoned before each run.
final class GPUOutputErrorMeter {
    let attention: SparseFlashAttention
    let layer: GPULayerAttention
    let dense: [Float]
    let traits: FlashKernelTraits
    let stream: GPUStream
    private let out: DeviceBuffer, lse: DeviceBuffer
    /// Sparse runs so far and their summed kernel time.
    private(set) var runs = 0
    private(set) var kernelMs = 0.0

    init(attention: SparseFlashAttention, layer a: GPULayerAttention, dense: [Float], geometry g: TileGeometry, stream: GPUStream) throws {
        self.attention = attention; layer = a; self.dense = dense; self.stream = stream
        traits = try FlashKernelTraits.default(headDim: a.shape.headDim, geometry: g, dtype: a.dtype)
        let device = attention.device
        out = try DeviceBuffer(device: device, byteCount: a.shape.tokens * a.shape.queryHeads * a.shape.headDim * 2)
        lse = try DeviceBuffer(device: device, byteCount: a.shape.tokens * a.shape.queryHeads * 4)
    }

    /// Per head, the relative output error of `mask` (geometry the meter's, heads the layer's).
    func errors(_ mask: BlockMask) throws -> [Double] {
        let s = layer.shape, n = s.tokens, d = s.headDim, heads = s.queryHeads
        let dm = try DeviceBlockMask(device: attention.device, mask: mask)
        try out.fill8(0xFF)  // NaN in bf16 and fp16
        let e0 = try GPUEvent(device: attention.device), e1 = try GPUEvent(device: attention.device)
        try e0.record(on: stream)
        try attention.forward(shape: s, traits: traits, q: layer.q, k: layer.k, v: layer.v, o: out, lse: lse, mask: dm, spec: layer.spec, stream: stream)
        try e1.record(on: stream)
        try stream.synchronize()
        runs += 1; kernelMs += try e1.milliseconds(since: e0)
        let bits = try out.download(UInt16.self, count: n * heads * d)
        let bf16 = layer.dtype == .bf16
        // per (head, chunk of rows) sums, then per head
        let chunks = 32, per = (n + chunks - 1) / chunks
        var e2 = [Double](repeating: 0, count: heads * chunks), o2 = e2
        e2.withUnsafeMutableBufferPointer { eb in
            o2.withUnsafeMutableBufferPointer { ob in
                bits.withUnsafeBufferPointer { bb in
                    dense.withUnsafeBufferPointer { db in
                        let ep = eb.baseAddress!, op = ob.baseAddress!, bp = bb.baseAddress!, dp = db.baseAddress!
                        DispatchQueue.concurrentPerform(iterations: heads * chunks) { t in
                            let h = t / chunks, c = t % chunks
                            var e = 0.0, o = 0.0
                            for i in (c * per)..<min(n, (c + 1) * per) {
                                let base = (i * heads + h) * d
                                for x in 0..<d {
                                    let got = bf16 ? HalfBits.bf16ToFloat(bp[base + x]) : HalfBits.f16ToFloat(bp[base + x])
                                    let diff = Double(got) - Double(dp[base + x])
                                    e += diff * diff; o += Double(dp[base + x]) * Double(dp[base + x])
                                }
                            }
                            ep[t] = e; op[t] = o
                        }
                    }
                }
            }
        }
        return (0..<heads).map { h in
            let e = e2[(h * chunks)..<((h + 1) * chunks)].reduce(0, +), o = o2[(h * chunks)..<((h + 1) * chunks)].reduce(0, +)
            return o > 0 ? (e / o).squareRoot() : (e > 0 ? .infinity : 0)
        }
    }
}
