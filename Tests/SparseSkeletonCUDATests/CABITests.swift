import XCTest
import SparseSkeleton
@testable import SparseSkeletonC

/// The C ABI (Sources/SparseSkeletonC) returns a status and a message instead of trapping: without
/// a GPU (CI) every call reports "no GPU" (status 2); with one, the bad arguments below are
/// refused with status 1. Either way nothing crashes and the message is filled.
final class CABITests: XCTestCase {
    private func message(_ buf: [CChar]) -> String { String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

    func testErrorsAreStatusAndMessage() {
        var err = [CChar](repeating: 1, count: 256)
        var info = [CChar](repeating: 0, count: 256)
        let hasGPU = sk_device_info(&info, 256) == 0
        if !hasGPU { XCTAssertTrue(message(info).contains("libcuda") || !message(info).isEmpty) }

        // null pointers
        var st = sk_attention_forward(0, 0, 0, 0, 0, 128, 4, 2, 64, 0, 0, 0, 128, 0, 0, 0, &err, 256)
        XCTAssertEqual(st, hasGPU ? 1 : 2); XCTAssertFalse(message(err).isEmpty)
        // bad dtype, heads not divisible, unsupported head dim, one CSR pointer without the other
        for (dtype, hq, hkv, d, ro) in [(Int32(7), Int32(4), Int32(2), Int32(64), UInt64(0)), (0, 3, 2, 64, 0), (0, 4, 2, 96, 0), (0, 4, 2, 64, 8)] {
            st = sk_attention_forward(8, 8, 8, 8, 0, 128, hq, hkv, d, dtype, ro, 0, 128, 0, 0, 0, &err, 256)
            XCTAssertEqual(st, hasGPU ? 1 : 2, message(err)); XCTAssertFalse(message(err).isEmpty)
        }
        var ro: UInt64 = 0, kb: UInt64 = 0
        st = sk_skeleton_mask(8, 8, 128, 4, 2, 64, 0, 0, 0, 128, 0, &ro, &kb, &err, 256)  // neither ε nor density
        XCTAssertEqual(st, hasGPU ? 1 : 2); XCTAssertFalse(message(err).isEmpty)
        XCTAssertEqual(ro, 0); XCTAssertEqual(kb, 0)
        // a too-short buffer is truncated and NUL-terminated; no buffer at all is allowed
        var tiny = [CChar](repeating: 1, count: 4)
        st = sk_attention_forward(0, 0, 0, 0, 0, 128, 4, 2, 64, 0, 0, 0, 128, 0, 0, 0, &tiny, 4)
        XCTAssertNotEqual(st, 0); XCTAssertEqual(tiny[3], 0)
        XCTAssertNotEqual(sk_attention_forward(0, 0, 0, 0, 0, 128, 4, 2, 64, 0, 0, 0, 128, 0, 0, 0, nil, 0), 0)
        // a NaN / negative scale or a negative window (valid pointers and shape otherwise)
        for (scale, window) in [(Double.nan, Int32(0)), (-1, 0), (.infinity, 0), (0, -5)] {
            st = sk_attention_forward(8, 8, 8, 8, 0, 128, 4, 2, 64, 0, 0, 0, 128, scale, window, 0, &err, 256)
            XCTAssertEqual(st, hasGPU ? 1 : 2, message(err)); XCTAssertFalse(message(err).isEmpty)
        }
        print(hasGPU ? "C ABI on \(message(info))" : "no GPU: C ABI error path checked (\(message(err).prefix(60))…)")
    }

    func testABIVersion() {
        XCTAssertEqual(sk_abi_version(), 2)
    }

    /// The scale / window convention of sk_attention_forward: 0 = default / none, positive values
    /// taken as given, anything else refused with a message naming the value.
    func testAttentionSpecArguments() throws {
        XCTAssertEqual(try skAttentionSpec(softmaxScale: 0, window: 0), .causal)
        XCTAssertEqual(try skAttentionSpec(softmaxScale: 0.125, window: 4096), AttentionSpec(window: 4096, scale: 0.125))
        for (scale, window, word) in [(Double.nan, Int32(0), "nan"), (-0.5, 0, "-0.5"), (.infinity, 0, "inf"), (0, -1, "-1")] {
            XCTAssertThrowsError(try skAttentionSpec(softmaxScale: scale, window: window)) { error in
                guard let f = error as? SKFailure else { return XCTFail("not an SKFailure: \(error)") }
                XCTAssertEqual(f.status, .invalidArgument)
                XCTAssertTrue(f.message.contains(word), f.message)
            }
        }
    }
}
