import XCTest
import SparseSkeleton

/// Every class of bad number the command line can carry is one error naming the option.
final class OptionValuesTests: XCTestCase {
    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testIntegersAreWholeNumbersInRange() throws {
        XCTAssertEqual(try OptionValues.integer("42", "--tokens", in: 1...100), 42)
        XCTAssertEqual(try OptionValues.integers("0, 4,9", "--layers", in: 0...29), [0, 4, 9])
        XCTAssertEqual(try OptionValues.integers("8K,1M", "--tokens", in: 1...(1 << 24), suffixes: true), [8192, 1 << 20])
        for bad in ["4.9", "nan", "inf", "1e30", "2**62", "0x10", "", "4 9"] {
            XCTAssertTrue(message { try OptionValues.integer(bad, "--layers", in: 0...29) }.contains("--layers: '\(bad)' is not an integer"), bad)
        }
        XCTAssertTrue(message { try OptionValues.integer("30", "--layers", in: 0...29) }.contains("--layers must be an integer in 0...29, got 30"))
        XCTAssertTrue(message { try OptionValues.integer("9223372036854775807K", "--tokens", in: 1...Int.max, suffixes: true) }
                        .contains("must be an integer"))
        XCTAssertTrue(message { try OptionValues.integers("0,,4", "--layers", in: 0...29) }.contains("not a comma-separated list"))
        XCTAssertEqual(try OptionValues.integers("", "--layers", in: 0...29), [])
    }

    func testRealsAreFiniteAndInsideTheirInterval() throws {
        XCTAssertEqual(try OptionValues.reals("0.02,0.05", "--epsilons", .epsilon), [0.02, 0.05])
        XCTAssertEqual(try OptionValues.real("1", "--density", .density), 1)
        for bad in ["nan", "inf", "-inf", "0", "1", "-1e308"] {
            XCTAssertTrue(message { try OptionValues.real(bad, "--epsilon", .epsilon) }.contains("--epsilon must be a finite number in (0, 1)"), bad)
        }
        XCTAssertTrue(message { try OptionValues.real("0", "--density", .density) }.contains("(0, 1]"))
        XCTAssertTrue(message { try OptionValues.real("x", "--density", .density) }.contains("'x' is not a number"))
    }

    func testRequirementsOfParsedOptions() throws {
        try OptionValues.require(.real(1.645, "--confidence-z", .confidenceZ), .real(nil, "--epsilon", .epsilon), .integer(nil, "--layer", 0...9))
        for z in [Double.nan, -1e308, 0, 10.5, .infinity] {
            XCTAssertTrue(message { try OptionValues.require(.real(z, "--confidence-z", .confidenceZ)) }.contains("--confidence-z must be a finite number in (0, 10]"), "\(z)")
        }
        XCTAssertNoThrow(try OptionValues.require(.real(10, "--confidence-z", .confidenceZ)))
        XCTAssertTrue(message { try OptionValues.require(.integer(1 << 62, "--tokens", 1...OptionValues.maxTokens)) }.contains("--tokens must be an integer in 1...16777216"))
        XCTAssertTrue(message { try OptionValues.require(.real(0.5, "--local-weight", .unit), .integer(0, "--probe-stride", 1...64)) }.contains("--probe-stride"))
    }

    func testAllocationSizesAreBounded() {
        XCTAssertNoThrow(try OptionValues.requireProduct([4096, 9, 64], "x"))
        XCTAssertTrue(message { try OptionValues.requireProduct([1 << 24, 1024, 256], "--tokens × --heads × --head-dim") }
                        .contains("16777216 × 1024 × 256 is more than 1073741824 elements"))
        XCTAssertTrue(message { try OptionValues.requireProduct([Int.max, 2], "n") }.contains("more than"))
    }

    func testNonFiniteResultsAreErrors() {
        XCTAssertThrowsError(try NonFiniteResult.check([("output error", .infinity)])) {
            XCTAssertEqual($0 as? NonFiniteResult, NonFiniteResult(what: "output error", value: .infinity))
        }
        XCTAssertNoThrow(try NonFiniteResult.check([("perplexity", 12.5), ("output error", nil)]))
        XCTAssertThrowsError(try NonFiniteResult.check([("perplexity of dense", 3), ("perplexity of skeleton", .nan)])) {
            XCTAssertEqual(($0 as? NonFiniteResult)?.what, "perplexity of skeleton")
            XCTAssertTrue("\($0)".contains("perplexity of skeleton is nan"), "\($0)")
        }
    }
}
