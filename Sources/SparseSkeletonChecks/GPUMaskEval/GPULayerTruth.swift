import Dispatch
import Foundation
import SparseSkeleton
import SparseSkeletonCUDA
import SparseSkeletonModelCUDA

/// The exact attention of one tapped layer, kept at (row, 64-key tile) granularity: the GPU's
/// `ExactTileMass` from the dense pass's Q, K and LSE, downloaded head by head into
/// `AttentionTruth`s (recall only), and the dense pass's output O on the host for output errors.
struct GPULayerTruth {
    let truths: [AttentionTruth]
    /// The dense output O [N, heads, d] as the prefill's kernel wrote it (16-bit → Float).
    let denseOutput: [Float]
    /// Largest |Σ_J mass[i, J] − 1| over every row and head: the masses against the pass's LSE.
    let maxRowSumError: Double
    let massMs: Double

    init(_ a: GPULayerAttention, geometry g: TileGeometry, library: KernelLibrary, stream: GPUStream) throws {
        let shape = a.shape, n = shape.tokens, tiles = ExactTileMass.keyTiles(tokens: n)
        guard g.tokens == n, g.keyTile == ExactTileMass.keyTile else {
            throw SkeletonError.shapeMismatch("the truth's geometry must have N = \(n) and 64-key tiles")
        }
        let mass = try DeviceBuffer(device: library.device, byteCount: ExactTileMass.byteCount(shape))
        try mass.fill32(0x7FC0_0000)  // NaN: an unwritten entry shows up in the row sums
        let e0 = try GPUEvent(device: library.device), e1 = try GPUEvent(device: library.device)
        try e0.record(on: stream)
        try ExactTileMass(library: library).compute(shape: shape, dtype: a.dtype, q: a.q, k: a.k, lse: a.lse, spec: a.spec, mass: mass, stream: stream)
        try e1.record(on: stream)
        try stream.synchronize()
        massMs = try e1.milliseconds(since: e0)
        let perHead = n * tiles
        var truths: [AttentionTruth] = []
        var worst = 0.0
        for h in 0..<shape.queryHeads {
            let slice = DeviceBuffer(device: library.device, borrowing: mass.pointer + UInt64(h * perHead * 4), byteCount: perHead * 4)
            let m = try slice.download(Float.self, count: perHead)
            worst = max(worst, Self.maxRowSumError(m, rows: n, tiles: tiles))
            truths.append(try AttentionTruth(masses: m, head: h, headDim: shape.headDim, geometry: g))
        }
        self.truths = truths
        maxRowSumError = worst
        let bits = try a.o.download(UInt16.self, count: n * shape.queryHeads * shape.headDim)
        denseOutput = a.dtype == .bf16 ? bits.map(HalfBits.bf16ToFloat) : bits.map(HalfBits.f16ToFloat)
    }

    /// max over rows of |Σ_J m[i, J] − 1| (NaN when any entry is NaN).
    static func maxRowSumError(_ m: [Float], rows n: Int, tiles: Int) -> Double {
        let chunks = 64, per = (n + chunks - 1) / chunks
        var worst = [Double](repeating: 0, count: chunks)
        m.withUnsafeBufferPointer { mb in
            worst.withUnsafeMutableBufferPointer { wb in
                let mp = mb.baseAddress!, wp = wb.baseAddress!
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    var w = 0.0
                    for i in (c * per)..<min(n, (c + 1) * per) {
                        var t = 0.0
                        for J in 0..<tiles { t += Double(mp[i * tiles + J]) }
                        w = t.isNaN ? .nan : max(w, abs(t - 1))
                        if w.isNaN { break }
                    }
                    wp[c] = w
                }
            }
        }
        return worst.contains { $0.isNaN } ? .nan : worst.max() ?? 0
    }
}
