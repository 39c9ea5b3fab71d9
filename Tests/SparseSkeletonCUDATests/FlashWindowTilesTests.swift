import XCTest
import SparseSkeleton
import SparseSkeletonKernelParams
@testable import SparseSkeletonCUDA

/// Host-side arithmetic of the windowed attention kernel (no GPU): the tile walk against a
/// brute-force reading of `AttentionSpec.sees`, the scale, the spec checks and the parameter layout.
final class FlashWindowTilesTests: XCTestCase {
    /// For every query block and causal key tile: tiles before `firstKeyBlock` hold no visible
    /// pair, the first one and every later causal one hold one; a tile that is not an edge tile
    /// hides no causal pair (so skipping its per-element test is exact), and an edge tile of a full
    /// query block hides at least one.
    func testTileWalkMatchesTheSpecPairByPair() throws {
        for (bm, bn) in [(64, 64), (128, 64), (128, 128)] {
            for window in [1, 2, 63, 64, 65, 100, 127, 128, 129, 191, 256, 300, 512] {
                let n = 700
                let spec = AttentionSpec(window: window)
                let tiles = FlashWindowTiles(blockM: bm, blockN: bn, window: window)
                let g = try TileGeometry(tokens: n, queryTile: bm, keyTile: bn)
                for qb in 0..<g.queryBlocks {
                    let rows = (qb * bm)..<min((qb + 1) * bm, n)
                    let first = tiles.firstKeyBlock(queryBlock: qb)
                    XCTAssertLessThanOrEqual(first, g.lastCausalKeyBlock(qb))
                    for kb in 0...g.lastCausalKeyBlock(qb) {
                        let keys = (kb * bn)..<min((kb + 1) * bn, n)
                        var visible = false, hiddenCausal = false
                        for i in rows {
                            for j in keys where j <= i {
                                if spec.sees(query: i, key: j) { visible = true } else { hiddenCausal = true }
                            }
                        }
                        let what = "tiles \(bm)x\(bn) window \(window) qb \(qb) kb \(kb)"
                        XCTAssertEqual(visible, kb >= first, "\(what): first reachable tile \(first)")
                        if !tiles.isEdge(keyBlock: kb, queryBlock: qb) { XCTAssertFalse(hiddenCausal, "\(what): hides keys but is not an edge tile") }
                        if rows.count == bm && tiles.isEdge(keyBlock: kb, queryBlock: qb) && kb >= first {
                            XCTAssertTrue(hiddenCausal, "\(what): edge tile hides nothing")
                        }
                    }
                }
            }
        }
    }

    func testNoWindowWalksEveryTileWithoutTheEdgeMask() {
        let t = FlashWindowTiles(blockM: 128, blockN: 64, window: 0)
        for qb in [0, 1, 7, 1000] {
            XCTAssertEqual(t.firstKeyBlock(queryBlock: qb), 0)
            for kb in [0, 1, 2 * qb] { XCTAssertFalse(t.isEdge(keyBlock: kb, queryBlock: qb)) }
        }
    }

    func testKernelWindow() {
        XCTAssertEqual(FlashWindowTiles.kernelWindow(.causal, tokens: 1000), 0)
        XCTAssertEqual(FlashWindowTiles.kernelWindow(AttentionSpec(window: 512), tokens: 1000), 512)
        XCTAssertEqual(FlashWindowTiles.kernelWindow(AttentionSpec(window: 999), tokens: 1000), 999)
        // a window as long as the sequence hides nothing: the unwindowed path runs
        XCTAssertEqual(FlashWindowTiles.kernelWindow(AttentionSpec(window: 1000), tokens: 1000), 0)
        XCTAssertEqual(FlashWindowTiles.kernelWindow(AttentionSpec(window: Int(Int32.max) + 5), tokens: 1000), 0)
    }

    func testScaleLog2() {
        for d in [64, 128, 256] {  // the default is bit-identical to the former 1/√d expression
            XCTAssertEqual(SparseFlashAttention.scaleLog2(spec: .causal, headDim: d).bitPattern,
                           Float(1.4426950408889634 / Double(d).squareRoot()).bitPattern)
        }
        XCTAssertEqual(SparseFlashAttention.scaleLog2(spec: AttentionSpec(scale: 0.25), headDim: 128), Float(0.25 * 1.4426950408889634))
        XCTAssertEqual(SparseFlashAttention.scaleLog2(spec: AttentionSpec(window: 64), headDim: 64),
                       SparseFlashAttention.scaleLog2(spec: .causal, headDim: 64))
    }

    func testUnsupportedSpecsAreRefusedByName() throws {
        XCTAssertNoThrow(try SparseFlashAttention.requireSupported(.causal))
        XCTAssertNoThrow(try SparseFlashAttention.requireSupported(AttentionSpec(window: 4096, scale: 0.1)))
        func message(_ spec: AttentionSpec) -> String {
            do { try SparseFlashAttention.requireSupported(spec); return "" } catch { return "\(error)" }
        }
        let full = message(AttentionSpec(causal: false))
        XCTAssertTrue(full.contains("causal") && full.contains("full"), full)
        let capped = message(AttentionSpec(softcap: 30))
        XCTAssertTrue(capped.contains("softcap 30"), capped)
        XCTAssertThrowsError(try SparseFlashAttention.requireSupported(AttentionSpec(causal: false))) { error in
            guard case CUDAError.unsupported = error else { return XCTFail("expected CUDAError.unsupported, got \(error)") }
        }
        XCTAssertThrowsError(try SparseFlashAttention.requireSupported(AttentionSpec(softcap: 30))) { error in
            guard case CUDAError.unsupported = error else { return XCTFail("expected CUDAError.unsupported, got \(error)") }
        }
        for bad in [AttentionSpec(window: 0), AttentionSpec(scale: -1), AttentionSpec(scale: .nan)] {
            XCTAssertThrowsError(try SparseFlashAttention.requireSupported(bad), "\(bad)")
        }
    }

    /// The Swift view of SKAttentionParams has the layout the header asserts for the device (88 B).
    func testParamsLayoutMatchesTheHeader() {
        typealias P = SKAttentionParams
        XCTAssertEqual(MemoryLayout<P>.size, 88)
        XCTAssertEqual(MemoryLayout<P>.alignment, 8)
        let offsets: [(PartialKeyPath<P>, Int)] = [(\P.q, 0), (\P.k, 8), (\P.v, 16), (\P.o, 24), (\P.lse, 32), (\P.rowOffsets, 40),
                                                   (\P.keyBlocks, 48), (\P.tokens, 56), (\P.queryHeads, 60), (\P.kvHeads, 64),
                                                   (\P.scaleLog2, 68), (\P.window, 72), (\P.workQueue, 80)]
        for (path, offset) in offsets { XCTAssertEqual(MemoryLayout<P>.offset(of: path), offset, "\(path)") }
    }
}
