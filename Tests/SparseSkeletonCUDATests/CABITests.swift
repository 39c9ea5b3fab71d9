import XCTest
import SparseSkeleton
@testable import SparseSkeletonC

/// The C ABI v3 (Sources/SparseSkeletonC): statuses and messages instead of traps, the size
/// queries and the per-sequence layout (no GPU needed), and — where a GPU is present — argument
/// checks on a live context.
final class CABITests: XCTestCase {
    private func message(_ buf: [CChar]) -> String { String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

    func testABIVersion() {
        XCTAssertEqual(sk_abi_version(), 3)
    }

    func testMaskAndWorkspaceSizes() {
        var err = [CChar](repeating: 1, count: 256)
        var ro: Int64 = 0, kb: Int64 = 0, ws: Int64 = 0
        // batch 2 × N = 200, 4 heads, query tile 128: 2 query blocks (key blocks 0...1 and 0...3) per head
        XCTAssertEqual(sk_mask_size(2, 200, nil, 4, 2, 64, 0, 128, &ro, &kb, &err, 256), 0, message(err))
        let rows: Int64 = 2 * (4 * 2 + 1), tiles: Int64 = 2 * 4 * (2 + 4)
        XCTAssertEqual(ro, rows); XCTAssertEqual(kb, tiles)
        XCTAssertEqual(sk_workspace_size(2, 200, nil, 4, 2, 64, 0, 128, &ws, &err, 256), 0)
        XCTAssertEqual(ws, Int64(200 * 4 * 4))
        // varlen 64 + 130 tokens, tile 64: 1 block (1 tile) and 3 blocks (1 + 2 + 3 tiles) per head
        let cu: [Int32] = [0, 64, 194]
        XCTAssertEqual(sk_mask_size(2, 0, cu, 2, 1, 128, 1, 64, &ro, &kb, &err, 256), 0, message(err))
        let wantRows: Int64 = (2 * 1 + 1) + (2 * 3 + 1), wantTiles: Int64 = 2 * 1 + 2 * 6
        XCTAssertEqual(ro, wantRows); XCTAssertEqual(kb, wantTiles)
        XCTAssertEqual(sk_workspace_size(2, 0, cu, 2, 1, 128, 1, 64, &ws, &err, 256), 0)
        XCTAssertEqual(ws, Int64(130 * 2 * 4))
        // refused: decreasing offsets, nonzero first offset, empty batch, bad tile, dtype, heads, head dim
        let bad: [(Int32, Int32, [Int32]?, Int32, Int32, Int32, Int32, Int32, String)] = [
            (2, 0, [0, 64, 64], 2, 1, 64, 0, 64, "increase"), (1, 0, [3, 64], 2, 1, 64, 0, 64, "cuSeqlens[0]"),
            (0, 64, nil, 2, 1, 64, 0, 64, "batch"), (1, 64, nil, 2, 1, 64, 0, 32, "queryTile"),
            (1, 64, nil, 2, 1, 64, 5, 64, "dtype"), (1, 64, nil, 3, 2, 64, 0, 64, "multiple"),
            (1, 64, nil, 2, 1, 96, 0, 64, "head dim"), (1, 0, nil, 2, 1, 64, 0, 64, "tokens"),
        ]
        for (b, n, cu, hq, hkv, d, dt, tile, word) in bad {
            let st = cu.map { c in c.withUnsafeBufferPointer { sk_mask_size(b, n, $0.baseAddress, hq, hkv, d, dt, tile, &ro, &kb, &err, 256) } }
                ?? sk_mask_size(b, n, nil, hq, hkv, d, dt, tile, &ro, &kb, &err, 256)
            XCTAssertEqual(st, 1, word); XCTAssertTrue(message(err).contains(word), "\(word): \(message(err))")
        }
    }

    func testProblemLayout() throws {
        let cu: [Int32] = [0, 100, 300]
        let p = try cu.withUnsafeBufferPointer { try SKProblem(batch: 2, tokens: 0, cuSeqlens: $0.baseAddress, qHeads: 4, kvHeads: 2, headDim: 64, dtype: 0, queryTile: 64) }
        XCTAssertEqual(p.sequences.map(\.start), [0, 100]); XCTAssertEqual(p.sequences.map(\.shape.tokens), [100, 200])
        XCTAssertEqual(p.sequences[1].rowOffsetsStart, 4 * 2 + 1)
        XCTAssertEqual(p.sequences[1].keyBlocksStart, 4 * (1 + 2))
        XCTAssertEqual(p.totalTokens, 300)
    }

    func testContextErrors() {
        var err = [CChar](repeating: 1, count: 256)
        var ctx: OpaquePointer? = OpaquePointer(bitPattern: 8)
        let st = sk_context_create(0, &ctx, &err, 256)
        let hasGPU = st == 0
        if !hasGPU {
            XCTAssertEqual(st, 2, message(err)); XCTAssertNil(ctx); XCTAssertFalse(message(err).isEmpty)
        }
        XCTAssertEqual(sk_context_create(-1, &ctx, &err, 256), hasGPU ? 1 : 1)
        // a null or foreign context is refused with status 1, never dereferenced
        let foreign = OpaquePointer(bitPattern: 0x1234)
        for c in [nil, foreign] {
            XCTAssertEqual(sk_attention_forward(c, 8, 8, 8, 8, 0, 1, 128, nil, 4, 2, 64, 0, 1, 0, 0, 0, 0, 128, 0, 0, 0, &err, 256), 1)
            XCTAssertTrue(message(err).contains("context"), message(err))
        }
        XCTAssertEqual(sk_context_destroy(foreign), 1)
        XCTAssertEqual(sk_context_device(foreign), -1)
        // a too-short buffer is truncated and NUL-terminated; no buffer at all is allowed
        var tiny = [CChar](repeating: 1, count: 4)
        XCTAssertNotEqual(sk_attention_forward(nil, 0, 0, 0, 0, 0, 1, 128, nil, 4, 2, 64, 0, 1, 0, 0, 0, 0, 128, 0, 0, 0, &tiny, 4), 0)
        XCTAssertEqual(tiny[3], 0)
        XCTAssertNotEqual(sk_attention_forward(nil, 0, 0, 0, 0, 0, 1, 128, nil, 4, 2, 64, 0, 1, 0, 0, 0, 0, 128, 0, 0, 0, nil, 0), 0)
        guard hasGPU, let ctx else { print("no GPU: skipped CABITests.testContextErrors on a live context (\(message(err).prefix(60)))"); return }
        defer { XCTAssertEqual(sk_context_destroy(ctx), 0) }
        var info = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(sk_device_info(ctx, &info, 256), 0)
        // null pointers, non-causal, NaN scale, negative window, lse = 0 without a workspace, one CSR pointer
        let cases: [(UInt64, Int32, Double, Int32, UInt64, UInt64)] = [(0, 1, 0, 0, 8, 0), (8, 0, 0, 0, 8, 0), (8, 1, .nan, 0, 8, 0),
                                                                       (8, 1, 0, -3, 8, 0), (8, 1, 0, 0, 0, 0), (8, 1, 0, 0, 8, 8)]
        for (q, causal, scale, window, lse, ro) in cases {
            let st = sk_attention_forward(ctx, q, 8, 8, 8, lse, 1, 128, nil, 4, 2, 64, 0, causal, scale, window, ro, 0, 128, 0, 0, 0, &err, 256)
            XCTAssertEqual(st, 1, message(err)); XCTAssertFalse(message(err).isEmpty)
        }
        // estimator / target codes, MInference with ε, no mask buffers
        for (est, kind, value, ro) in [(Int32(7), Int32(0), 0.02, UInt64(8)), (0, 9, 0.02, 8), (0, 0, 1.5, 8), (1, 0, 0.02, 8), (0, 0, 0.02, 0)] {
            let st = sk_estimate_mask(ctx, 8, 8, 1, 128, nil, 4, 2, 64, 0, 1, 0, 0, est, kind, value, 128, ro, ro, 0, &err, 256)
            XCTAssertEqual(st, 1, message(err))
        }
        print("C ABI on \(message(info))")
    }

    /// The scale / window / causal convention: 0 = default / none, positive values as given,
    /// anything else refused with a message naming the value.
    func testAttentionSpecArguments() throws {
        XCTAssertEqual(try skAttentionSpec(softmaxScale: 0, window: 0), .causal)
        XCTAssertEqual(try skAttentionSpec(softmaxScale: 0.125, window: 4096), AttentionSpec(window: 4096, scale: 0.125))
        for (causal, scale, window, word) in [(Int32(1), Double.nan, Int32(0), "nan"), (1, -0.5, 0, "-0.5"), (1, .infinity, 0, "inf"),
                                              (1, 0, -1, "-1"), (0, 0, 0, "causal")] {
            XCTAssertThrowsError(try skAttentionSpec(causal: causal, softmaxScale: scale, window: window)) { error in
                guard let f = error as? SKFailure else { return XCTFail("not an SKFailure: \(error)") }
                XCTAssertEqual(f.status, .invalidArgument)
                XCTAssertTrue(f.message.contains(word), f.message)
            }
        }
    }

    func testMaskTargets() throws {
        XCTAssertEqual(try skMaskTarget(kind: 0, value: 0.02), .errorBound(epsilon: 0.02))
        XCTAssertEqual(try skMaskTarget(kind: 1, value: 0.3), .density(0.3))
        XCTAssertEqual(try skMaskTarget(kind: 2, value: 1.5), .timeBudget(milliseconds: 1.5))
        for (kind, value) in [(Int32(0), 0.0), (0, 1.0), (1, 0.0), (1, 1.5), (2, -1.0), (3, 0.5)] {
            XCTAssertThrowsError(try skMaskTarget(kind: kind, value: value))
        }
    }
}
