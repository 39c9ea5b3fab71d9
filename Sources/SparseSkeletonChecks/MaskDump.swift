import Foundation
import SparseSkeleton
import SparseSkeletonCUDA

/// What a peer benchmark needs to run exactly the attention `gpu-bench` timed (bench/gpu/flashinfer_peer.py
/// reads it): per input set the Q/K/V that were on the GPU, per mask its CSR arrays, our output on a
/// sample of query rows and a JSON record with our time. Raw little-endian files, shapes in the JSON:
///   `<inputs>.q|k|v.u16`   16-bit element bits, [N, heads, d] (the kernels' layout)
///   `<mask>.offsets.i32`   heads · queryBlocks + 1 row offsets (row r = head · queryBlocks + I)
///   `<mask>.blocks.i32`    ascending key-tile indices of each row
///   `<mask>.rows.i32`      the sampled query rows; `<mask>.out.u16` our output there, [rows, heads, d]
///   `<mask>.json`          a `MaskDump.Record`
public final class MaskDump {
    public struct Record: Codable {
        public var inputs: String, mask: String, mode: String, label: String, dtype: String, variant: String
        public var tokens: Int, heads: Int, kvHeads: Int, headDim: Int, queryTile: Int, keyTile: Int
        public var density: Double, computedPairs: Int, keptTiles: Int
        public var oursMsMedian: Double, oursMsMin: Double, oursReps: Int
    }

    let directory: String
    private var written: Set<String> = []

    /// Creates `directory` if needed; a name written twice in one run is an error (two masks would share files).
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
    }

    /// Query rows whose output is kept: one in every 64 at an offset that walks through the tile
    /// (so top and bottom halves of 128-row tiles and both sides of 64-key tiles are covered), and the last row.
    public static func sampleRows(tokens n: Int) -> [Int32] {
        var rows = stride(from: 0, to: n, by: 64).map { Int32(min(n - 1, $0 + ($0 / 64 * 37) % 64)) }
        if rows.last != Int32(n - 1) { rows.append(Int32(n - 1)) }
        return rows
    }

    /// Q/K/V as 16-bit bits from the host tensors (the generated inputs).
    public func writeInputs(_ name: String, q: HeadTensor, k: HeadTensor, v: HeadTensor) throws {
        for (part, t) in [("q", q), ("k", k), ("v", v)] {
            guard case .bits16(let bits) = t.storage else { throw SkeletonError.invalidArgument("dump: \(t.name) is not 16-bit") }
            try write(bits, "\(name).\(part).u16")
        }
    }

    /// Q/K/V read back from the GPU (`count` elements each for Q, `kvCount` for K and V).
    public func writeInputs(_ name: String, q: DeviceBuffer, k: DeviceBuffer, v: DeviceBuffer, count: Int, kvCount: Int) throws {
        try write(try q.download(UInt16.self, count: count), "\(name).q.u16")
        try write(try k.download(UInt16.self, count: kvCount), "\(name).k.u16")
        try write(try v.download(UInt16.self, count: kvCount), "\(name).v.u16")
    }

    /// One mask: its CSR as the kernel read it, our output `o` ([N, heads, d] on the GPU) on the sampled rows, the record.
    public func writeMask(_ record: Record, mask: DeviceBlockMask, output o: DeviceBuffer) throws {
        let rows = mask.heads * mask.geometry.queryBlocks
        let offsets = try mask.rowOffsets.download(Int32.self, count: rows + 1)
        let kept = Int(offsets[rows])
        let blocks = try mask.keyBlocks.download(Int32.self, count: kept)
        let n = record.tokens, width = record.heads * record.headDim
        let out = try o.download(UInt16.self, count: n * width)
        let sample = Self.sampleRows(tokens: n)
        var picked: [UInt16] = []
        picked.reserveCapacity(sample.count * width)
        for r in sample { picked += out[Int(r) * width..<(Int(r) + 1) * width] }
        try write(offsets, "\(record.mask).offsets.i32")
        try write(blocks, "\(record.mask).blocks.i32")
        try write(sample, "\(record.mask).rows.i32")
        try write(picked, "\(record.mask).out.u16")
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try claim("\(record.mask).json")
        try AtomicOutput.write(try enc.encode(record), to: "\(directory)/\(record.mask).json")
    }

    /// A file name made of the label's letters and digits (e.g. "structured-32768-skeleton-eps-0.02").
    public static func slug(_ parts: String...) -> String {
        parts.joined(separator: "-").map { $0.isLetter || $0.isNumber || $0 == "." ? String($0) : "-" }.joined()
            .split(separator: "-", omittingEmptySubsequences: true).joined(separator: "-")
    }

    private func claim(_ file: String) throws {
        guard written.insert(file).inserted else { throw SkeletonError.invalidArgument("dump: \(file) written twice in one run") }
    }

    private func write<T>(_ values: [T], _ file: String) throws {
        try claim(file)
        let data = values.withUnsafeBytes { Data($0) }
        try AtomicOutput.write(data, to: "\(directory)/\(file)")
    }
}
