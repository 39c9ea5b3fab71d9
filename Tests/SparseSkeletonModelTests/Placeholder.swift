import XCTest
final class ModelPlaceholderTests: XCTestCase { func testBuilds() {} }
