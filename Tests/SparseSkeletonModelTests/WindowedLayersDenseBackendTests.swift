import XCTest
import SparseSkeleton
@testable import SparseSkeletonModel

/// Windowed layers go to the dense reference (their window honoured), the others to the sparse backend.
final class WindowedLayersDenseBackendTests: XCTestCase {
    final class Recorder: AttentionBackend {
        var layers: [Int] = []
        var name: String { "recorder" }
        func attend(_ inputs: AttentionInputs, layer: Int, spec: AttentionSpec) throws -> AttentionResult {
            layers.append(layer)
            return AttentionResult(output: [Float](repeating: 0, count: inputs.q.count), logSumExp: nil, density: 0.25)
        }
    }

    func testRoutesByWindow() throws {
        let shape = try AttentionShape(tokens: 8, queryHeads: 2, kvHeads: 1, headDim: 64)
        var g = SystemRandomNumberGenerator()
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &g) } }
        let inputs = try AttentionInputs(shape: shape, q: values(8 * 2 * 64), k: values(8 * 64), v: values(8 * 64))
        let recorder = Recorder()
        let backend = WindowedLayersDenseBackend(sparse: recorder)
        let windowed = AttentionSpec(window: 3, scale: 0.5)
        let local = try backend.attend(inputs, layer: 0, spec: windowed)
        XCTAssertEqual(local.output, try DenseReferenceBackend().attend(inputs, layer: 0, spec: windowed).output)
        XCTAssertEqual(local.density, 1)
        let global = try backend.attend(inputs, layer: 5, spec: AttentionSpec(scale: 0.5))
        XCTAssertEqual(global.density, 0.25)
        XCTAssertEqual(recorder.layers, [5])
    }
}
