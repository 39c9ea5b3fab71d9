import Foundation
import XCTest
import SparseSkeleton
@testable import SparseSkeletonCUDA

/// A sliding window and a non-default scale on the GPU (both kernel families where the device has
/// them, dense and with a CSR mask) against a float64 reference of every row. Without a GPU it
/// prints "no GPU: skipped ..." and skips.
final class GPUWindowedForwardTests: XCTestCase {
    func testWindowedScaledForwardMatchesFloat64ReferenceOnGPU() throws {
        guard let session = GPUSession.forTest("windowed / scaled GPU forward vs float64 reference") else { throw XCTSkip("no GPU") }
        let device = session.device, op = session.attention, stream = session.stream
        let n = 333, hq = 4, hkv = 2, d = 64
        let shape = try AttentionShape(tokens: n, queryHeads: hq, kvHeads: hkv, headDim: d)
        let spec = AttentionSpec(window: 150, scale: 0.2)
        var rng = SplitMix64(seed: 42)
        func t(_ name: String, _ heads: Int) throws -> HeadTensor {
            try HeadTensor(name: name, tokens: n, heads: heads, headDim: d,
                           values: (0..<(n * heads * d)).map { _ in Float.random(in: -1.5...1.5, using: &rng) }, dtype: .f16)
        }
        let q = try t("Q", hq), k = try t("K", hkv), v = try t("V", hkv)
        let x = try AttentionInputs(q: q, k: k, v: v)
        let qd = try session.upload(q), kd = try session.upload(k), vd = try session.upload(v)
        let o = try DeviceBuffer(device: device, byteCount: n * hq * d * 2), lse = try DeviceBuffer(device: device, byteCount: n * hq * 4)
        let geometry = try TileGeometry(tokens: n, queryTile: 64, keyTile: 64)
        // every other causal tile, the diagonal kept: the window's edge falls inside kept and dropped tiles
        var rows: [[Int32]] = []
        for _ in 0..<hq { for qb in 0..<geometry.queryBlocks { rows.append((0...qb).filter { ($0 + qb) % 2 == 0 }.map(Int32.init)) } }
        let hostMask = try BlockMask(geometry: geometry, heads: hq, rows: rows)
        let deviceMask = try DeviceBlockMask(device: device, mask: hostMask)

        var traitsList = [try FlashKernelTraits(headDim: d, blockM: 64, blockN: 64, dtype: .f16)]
        if device.arch == "sm_90a" {
            traitsList.append(try FlashKernelTraits(headDim: d, blockM: 64, blockN: 64, dtype: .f16, family: .wgmma, persistent: true))
        }
        for traits in traitsList {
            for mask in [nil, deviceMask] {
                op.persistentGridCap = 3
                try o.fill8(0xFF)
                try lse.fill32(0x7FC0_0000)
                try op.forward(shape: shape, traits: traits, q: qd, k: kd, v: vd, o: o, lse: lse, mask: mask, spec: spec, stream: stream)
                try stream.synchronize()
                let out = try o.download(UInt16.self, count: n * hq * d).map(HalfBits.f16ToFloat)
                let lseOut = try lse.download(Float.self, count: n * hq)
                var num = 0.0, den = 0.0, lseErr = 0.0
                for h in 0..<hq {
                    for i in 0..<n {
                        let (ref, refLSE) = Self.reference(x, head: h, query: i, spec: spec) { j in
                            mask == nil || hostMask.contains(head: h, queryBlock: i / 64, keyBlock: j / 64)
                        }
                        for c in 0..<d {
                            let g = Double(out[(i * hq + h) * d + c])
                            XCTAssertFalse(g.isNaN, "\(traits) row \(i) head \(h): NaN / unwritten")
                            num += (g - ref[c]) * (g - ref[c]); den += ref[c] * ref[c]
                        }
                        let g = Double(lseOut[h * n + i])
                        if refLSE == -.infinity { XCTAssertEqual(g, -.infinity, "\(traits) row \(i): sees no key") } else {
                            lseErr = max(lseErr, abs(g - refLSE))
                        }
                    }
                }
                XCTAssertLessThan((num / den).squareRoot(), 5e-3, "\(traits) mask \(mask == nil ? "dense" : "CSR")")
                XCTAssertLessThan(lseErr, 2e-2, "\(traits) LSE")
            }
        }
    }

    /// Float64 attention of one row under `spec` and a key filter; (O, LSE), LSE = −∞ for no key.
    static func reference(_ x: AttentionInputs, head h: Int, query i: Int, spec: AttentionSpec, kept: (Int) -> Bool) -> ([Double], Double) {
        let sh = x.shape, d = sh.headDim, kvh = h / (sh.queryHeads / sh.kvHeads), v = x.v ?? []
        let scale = spec.softmaxScale(headDim: d)
        var keys: [(Int, Double)] = []
        for j in 0...i where spec.sees(query: i, key: j) && kept(j) {
            var dot = 0.0
            for c in 0..<d { dot += Double(x.q[(i * sh.queryHeads + h) * d + c]) * Double(x.k[(j * sh.kvHeads + kvh) * d + c]) }
            keys.append((j, dot * scale))
        }
        var o = [Double](repeating: 0, count: d)
        guard let m = keys.map(\.1).max() else { return (o, -.infinity) }
        var sum = 0.0
        for (j, s) in keys {
            let p = Foundation.exp(s - m)
            sum += p
            for c in 0..<d { o[c] += p * Double(v[(j * sh.kvHeads + kvh) * d + c]) }
        }
        return (o.map { $0 / sum }, m + Foundation.log(sum))
    }
}
