import XCTest
import SparseSkeleton
@testable import SparseSkeletonCUDA

/// Runs only where a CUDA GPU is present; elsewhere prints "no GPU: skipped ..." and skips
/// (CI has no GPU: the device checks are `skeleton gpu-check`, run through bench/gpu/run.sh).
final class GPUForwardTests: XCTestCase {
    func testForwardMatchesFloat64ReferenceOnGPU() throws {
        guard let session = GPUSession.forTest("GPU forward vs float64 reference") else { throw XCTSkip("no GPU") }
        let device = session.device, op = session.attention, stream = session.stream
        let shape = try AttentionShape(tokens: 150, queryHeads: 4, kvHeads: 2, headDim: 64)
        func t(_ name: String, _ heads: Int) throws -> HeadTensor {
            try HeadTensor(name: name, tokens: 150, heads: heads, headDim: 64,
                           values: (0..<(150 * heads * 64)).map { _ in Float.random(in: -2...2) }, dtype: .f16)
        }
        let q = try t("Q", 4), k = try t("K", 2), v = try t("V", 2)
        let ref = try ReferenceAttention.dense(try AttentionInputs(q: q, k: k, v: v), precision: .float64)
        let o = try DeviceBuffer(device: device, byteCount: 150 * 4 * 64 * 2), lse = try DeviceBuffer(device: device, byteCount: 150 * 4 * 4)
        try o.fill32(0xFFFF_FFFF)
        let traits = try FlashKernelTraits(headDim: 64, blockM: 64, blockN: 64, dtype: .f16)
        try op.forward(shape: shape, traits: traits, q: try session.upload(q), k: try session.upload(k), v: try session.upload(v), o: o, lse: lse, mask: nil, stream: stream)
        try stream.synchronize()
        let out = try o.download(UInt16.self, count: 150 * 4 * 64).map(HalfBits.f16ToFloat)
        var num = 0.0, den = 0.0
        for (g, r) in zip(out, ref.output) { XCTAssertFalse(g.isNaN); num += Double(g - r) * Double(g - r); den += Double(r * r) }
        XCTAssertLessThan((num / den).squareRoot(), 5e-3)
    }
}
