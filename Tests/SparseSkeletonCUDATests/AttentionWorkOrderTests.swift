import XCTest
@testable import SparseSkeletonCUDA

final class AttentionWorkOrderTests: XCTestCase {
    let l2 = 50 << 20

    func section(_ order: AttentionWorkOrder, tokens: Int, q: Int = 32, kv: Int = 8, d: Int = 128) -> Int {
        order.headSection(tokens: tokens, queryHeads: q, kvHeads: kv, headDim: d, elementBytes: 2, l2Bytes: l2)
    }

    func testOneSectionWhileEveryHeadsKVFitsInL2() {
        // 8K: 8 KV heads × 4 MiB of K and V = 32 MiB ≤ 50 MiB
        XCTAssertEqual(section(AttentionWorkOrder(), tokens: 8192), 0)
        XCTAssertEqual(section(AttentionWorkOrder(), tokens: 32768, q: 4, kv: 1, d: 256), 0, "one KV head: nothing to section")
    }

    func testSectionsAreWholeKVGroupsDividingTheHeads() {
        // 32K: 16 MiB per KV head, 3 fit, 3 does not divide 8 → 2 KV heads = 8 query heads
        XCTAssertEqual(section(AttentionWorkOrder(), tokens: 32768), 8)
        // 128K: 64 MiB per KV head, none fits → one KV group (4 query heads)
        XCTAssertEqual(section(AttentionWorkOrder(), tokens: 131072), 4)
        XCTAssertEqual(section(AttentionWorkOrder(), tokens: 131072, q: 9, kv: 3, d: 64), 3)
    }

    func testFlatModeAndForcedSections() {
        XCTAssertEqual(section(AttentionWorkOrder(mode: .flat), tokens: 131072), 0)
        XCTAssertEqual(section(AttentionWorkOrder(mode: .flat, forcedHeads: 8), tokens: 1024), 8)
        XCTAssertEqual(section(AttentionWorkOrder(forcedHeads: 6), tokens: 1024), 0, "6 is not a whole number of sections of 32 heads")
        XCTAssertEqual(section(AttentionWorkOrder(forcedHeads: 2), tokens: 1024), 0, "2 heads split a KV group of 4")
        XCTAssertEqual(section(AttentionWorkOrder(forcedHeads: 32), tokens: 1024), 0, "all heads: one section")
    }

    func testDenseWalksQueueOnlyWhenSectioned() {
        XCTAssertTrue(AttentionWorkOrder().queuesDense(headSection: 4))
        XCTAssertFalse(AttentionWorkOrder().queuesDense(headSection: 0))
        XCTAssertFalse(AttentionWorkOrder(mode: .sections).queuesDense(headSection: 4))
    }

    func testEnvironmentSetsModeAndSectionHeads() {
        setenv("SK_WORK_ORDER", "sections", 1); setenv("SK_SECTION_HEADS", "4", 1)
        defer { unsetenv("SK_WORK_ORDER"); unsetenv("SK_SECTION_HEADS") }
        let order = AttentionWorkOrder.fromEnvironment()
        XCTAssertEqual(order.mode, .sections)
        XCTAssertEqual(section(order, tokens: 32768), 4, "one KV head per section at 32K instead of the L2 rule's two")
        setenv("SK_SECTION_HEADS", "four", 1)
        XCTAssertNil(AttentionWorkOrder.fromEnvironment().forcedHeads, "not a number: the L2 rule")
    }
}
