import XCTest
import SparseSkeleton
import SparseSkeletonCUDA
@testable import SparseSkeletonModelCUDA

/// CPU-only: what the prefill's attention modes report about themselves.
final class GPUAttentionModeTests: XCTestCase {
    /// A device estimator that is never asked for a mask here (naming and targets only).
    final class NamedEstimator: DeviceMaskEstimator {
        let name: String
        init(name: String) { self.name = name }
        func estimateMask(q: DeviceBuffer, k: DeviceBuffer, shape: AttentionShape, dtype: DType, geometry: TileGeometry,
                          spec: AttentionSpec, target: MaskTarget, stream: GPUStream) throws -> DeviceBlockMask {
            throw CUDAError.unsupported("\(name): not used by this test")
        }
    }

    func testModesNameTheirEstimatorAndTarget() {
        let device = GPUAttentionMode.deviceEstimated(NamedEstimator(name: "minference"), .density(0.3))
        XCTAssertEqual(device.name, "minference-gpu@density=0.3")
        XCTAssertEqual(device.target, .density(0.3))
        XCTAssertTrue(device.estimatesOnDevice)

        let skeleton = GPUAttentionMode.skeleton(.errorBound(epsilon: 0.05))
        XCTAssertEqual(skeleton.name, "skeleton-gpu@eps=0.05")
        XCTAssertTrue(skeleton.estimatesOnDevice)

        XCTAssertEqual(GPUAttentionMode.dense.name, "dense")
        XCTAssertNil(GPUAttentionMode.dense.target)
        XCTAssertFalse(GPUAttentionMode.dense.estimatesOnDevice)
        XCTAssertFalse(GPUAttentionMode.hostEstimated(MInferenceEstimator(), .density(0.3)).estimatesOnDevice)
    }
}
