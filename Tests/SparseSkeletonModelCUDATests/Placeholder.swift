import XCTest
final class ModelCUDAPlaceholderTests: XCTestCase { func testBuilds() {} }
