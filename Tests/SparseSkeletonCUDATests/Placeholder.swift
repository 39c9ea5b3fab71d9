import XCTest
final class CUDAPlaceholderTests: XCTestCase { func testBuilds() {} }
