import XCTest
@testable import SparseSkeletonCUDA
import SparseSkeleton
import SparseSkeletonKernelParams

/// CPU checks of the warp-specialized TMA kernel's host side: its parameter struct has the layout the
/// device compiler gives it, and its traits pick stages and Q buffers that fit shared memory.
final class HopperKernelTraitsTests: XCTestCase {
    func testParameterLayoutMatchesTheDevice() {
        XCTAssertEqual(MemoryLayout<SKTensorMap>.size, 128)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.size, 896)  // the device rounds to its 64-byte alignment
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.tmK), 128)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.tmV), 256)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.tmO), 384)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.tmKPair), 512)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.tmVPair), 640)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.attention), 768)
        XCTAssertEqual(MemoryLayout<SKHopperAttentionParams>.offset(of: \.fp8Scales), 768 + MemoryLayout<SKAttentionParams>.size)
    }

    /// The FP8 build: d 128, 128-key tiles, unpaired; 1-byte rings (four stages and two Q buffers fit with the O staging).
    func testFP8TraitsTakeOneShapeAndHalveTheRings() throws {
        let t = try XCTUnwrap(FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: .bf16, fp8: true))
        XCTAssertTrue(t.fp8); XCTAssertEqual(t.defines["SK_FP8"], "1"); XCTAssertTrue(t.description.hasSuffix(" fp8"))
        XCTAssertEqual(t.stages, 4); XCTAssertEqual(t.qBuffers, 2); XCTAssertTrue(t.tmaStore)
        XCTAssertEqual(t.sharedBytes, (2 * 128 + 2 * 4 * 128) * 128 + 1024 + 2 * 64 * 128 * 2)
        XCTAssertNil(try XCTUnwrap(FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: .bf16)).defines["SK_FP8"])
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 64, blockN: 128, dtype: .bf16, fp8: true))
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, fp8: true))
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, paired: true, fp8: true))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 128, dtype: .bf16, family: .wgmma, fp8: true))
        XCTAssertEqual(FlashKernelTraits.ciVariants.filter(\.fp8).count, 4)  // bf16 and fp16 output, MUFU and FMA exponentials
        XCTAssertEqual(FlashKernelTraits.ciVariants.filter { $0.fmaExp > 0 }.count, 2)
    }

    func testDefaultsFitSharedMemoryAndPreferTwoQBuffers() throws {
        let expect: [(d: Int, bn: Int, stages: Int, q: Int, store: Bool)] = [(64, 64, 4, 2, true), (64, 128, 4, 2, true), (128, 64, 4, 2, true),
                                                                             (128, 128, 2, 2, true), (256, 64, 2, 1, false)]
        for e in expect {
            let t = try XCTUnwrap(FlashKernelTraits.hopper(headDim: e.d, blockN: e.bn, dtype: .bf16), "d\(e.d) 128x\(e.bn)")
            XCTAssertEqual(t.stages, e.stages, "\(t)"); XCTAssertEqual(t.qBuffers, e.q, "\(t)"); XCTAssertEqual(t.tmaStore, e.store, "\(t)")
            XCTAssertEqual(t.defines["SK_TMA_STORE"], e.store ? "1" : "0")
            XCTAssertLessThanOrEqual(t.sharedBytes, FlashKernelTraits.hopperSharedLimit)
            XCTAssertEqual(t.threads, 384); XCTAssertTrue(t.persistent)
            XCTAssertEqual(t.sourceFile, "flash_attention_hopper.cu"); XCTAssertEqual(t.entry, "flash_fwd_hopper")
            XCTAssertEqual(t.defines["SK_Q_BUFFERS"], "\(e.q)"); XCTAssertNil(t.defines["SK_WGMMA"])
            XCTAssertEqual(t.portable.family, .mma)
        }
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 256, blockN: 128, dtype: .bf16))  // registers
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 256, blockM: 128, blockN: 64, dtype: .bf16, family: .hopper, tmaStore: true))  // no room
        XCTAssertFalse(try XCTUnwrap(FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, tmaStore: false)).tmaStore)
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 64, blockN: 64, dtype: .bf16, family: .hopper))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, minBlocksPerSM: 2, dtype: .bf16, family: .hopper))
    }

    func testDefaultIsTheHopperKernelFor128RowTiles() throws {
        guard ProcessInfo.processInfo.environment["SK_FLASH_KERNEL"] == nil else { throw XCTSkip("SK_FLASH_KERNEL is set") }
        let g128 = try TileGeometry(tokens: 4096, queryTile: 128, keyTile: 64)
        let g64 = try TileGeometry(tokens: 4096, queryTile: 64, keyTile: 64)
        for d in [64, 128, 256] {
            XCTAssertEqual(try FlashKernelTraits.default(headDim: d, geometry: g128, dtype: .bf16).family, .hopper, "d\(d)")
            XCTAssertEqual(try FlashKernelTraits.default(headDim: d, geometry: g64, dtype: .bf16).family, .wgmma, "d\(d)")
        }
        // masks of 64-key tiles at d 128 run paired; d 256 cannot (registers)
        XCTAssertTrue(try FlashKernelTraits.default(headDim: 128, geometry: g128, dtype: .bf16).pairedKeyTiles)
        XCTAssertTrue(try FlashKernelTraits.default(headDim: 64, geometry: g128, dtype: .bf16).pairedKeyTiles)
        let g128x128 = try TileGeometry(tokens: 4096, queryTile: 128, keyTile: 128)  // d 64 with 128-key mask tiles: v4 as before
        XCTAssertEqual(try FlashKernelTraits.default(headDim: 64, geometry: g128x128, dtype: .bf16).family, .wgmma)
        XCTAssertFalse(try FlashKernelTraits.default(headDim: 256, geometry: g128, dtype: .bf16).pairedKeyTiles)
    }

    func testPairedTilesTakeTheStagesOf128KeyTiles() throws {
        for d in [64, 128] {
            let paired = try XCTUnwrap(FlashKernelTraits.hopper(headDim: d, blockN: 64, dtype: .bf16, paired: true))
            let wide = try XCTUnwrap(FlashKernelTraits.hopper(headDim: d, blockN: 128, dtype: .bf16))
            XCTAssertEqual(paired.blockN, 64); XCTAssertEqual(paired.stepKeys, 128)  // the CSR still indexes 64-key tiles
            XCTAssertEqual(paired.stages, wide.stages); XCTAssertEqual(paired.qBuffers, wide.qBuffers)
            XCTAssertEqual(paired.sharedBytes, wide.sharedBytes); XCTAssertEqual(paired.tmaStore, wide.tmaStore)
            XCTAssertEqual(paired.defines["SK_PAIR_TILES"], "1"); XCTAssertEqual(wide.defines["SK_PAIR_TILES"], "0")
            XCTAssertNotEqual(paired, try XCTUnwrap(FlashKernelTraits.hopper(headDim: d, blockN: 64, dtype: .bf16)))
        }
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 256, blockN: 64, dtype: .bf16, paired: true))
        XCTAssertNil(FlashKernelTraits.hopper(headDim: 128, blockN: 128, dtype: .bf16, paired: true))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, pairedKeyTiles: true))
        XCTAssertThrowsError(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma, itemOverlap: true))
        let overlap = try XCTUnwrap(FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, paired: true, itemOverlap: true))
        let plain = try XCTUnwrap(FlashKernelTraits.hopper(headDim: 128, blockN: 64, dtype: .bf16, paired: true))
        XCTAssertTrue(overlap.itemOverlap); XCTAssertEqual(overlap.defines["SK_ITEM_OVERLAP"], "1")
        XCTAssertFalse(plain.itemOverlap); XCTAssertEqual(plain.defines["SK_ITEM_OVERLAP"], "0"); XCTAssertNotEqual(overlap, plain)
        XCTAssertFalse(try FlashKernelTraits(headDim: 128, blockM: 128, blockN: 64, dtype: .bf16, family: .wgmma).itemOverlap)
    }
}
