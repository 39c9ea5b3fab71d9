import Foundation
import SparseSkeleton
import SparseSkeletonChecks
import Testing

/// The host half of `MaskDump` (the GPU half, masks and outputs, runs in gpu-bench --dump on the device).
struct MaskDumpTests {
    @Test("sampled rows: one per 64 rows, inside [0, N), strictly increasing, offsets covering both halves of a 128-row tile, the last row included")
    func sampleRows() {
        for n in [64, 1000, 4096, 32768] {
            let rows = MaskDump.sampleRows(tokens: n).map(Int.init)
            #expect(rows.last == n - 1)
            #expect(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 })
            #expect(rows.allSatisfy { (0..<n).contains($0) })
            #expect(rows.count == (n + 63) / 64 || rows.count == (n + 63) / 64 + 1)
        }
        let offsets = Set(MaskDump.sampleRows(tokens: 32768).dropLast().map { Int($0) % 128 })
        #expect(offsets.contains { $0 < 64 } && offsets.contains { $0 >= 64 })
    }

    @Test("slug keeps letters, digits and dots, joins the rest with single dashes")
    func slug() {
        #expect(MaskDump.slug("structured-32768-d128", "skeleton eps=0.02") == "structured-32768-d128-skeleton-eps-0.02")
        #expect(MaskDump.slug("random-8192-d64", "sparse-graded", "0.2") == "random-8192-d64-sparse-graded-0.2")
    }

    @Test("inputs are written as their 16-bit bits, little-endian, in [N, heads, d] order; a second write of a name fails")
    func inputsRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("maskdump-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let dump = try MaskDump(directory: dir)
        let bits = (0..<(3 * 2 * 4)).map { UInt16(truncatingIfNeeded: $0 &* 2654435761) }
        let t = try HeadTensor(name: "q", tokens: 3, heads: 2, headDim: 4, bits: bits, dtype: .bf16)
        try dump.writeInputs("x", q: t, k: t, v: t)
        for part in ["q", "k", "v"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/x.\(part).u16"))
            let back = data.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }.map { UInt16(littleEndian: $0) }
            #expect(back == bits)
        }
        #expect(throws: SkeletonError.self) { try dump.writeInputs("x", q: t, k: t, v: t) }
    }
}
