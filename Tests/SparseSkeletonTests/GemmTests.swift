import XCTest
@testable import SparseSkeleton

/// Both matrix-product backends against a float64 triple loop on fresh random inputs.
final class GemmTests: XCTestCase {
    /// float64 reference of C = α·op(A)·op(B) + β·C on strided row-major storage.
    private func reference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                           a: [Float], lda: Int, b: [Float], ldb: Int, beta: Double,
                           c: [Float], ldc: Int) -> [Double] {
        var out = c.map(Double.init)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k {
                    let av = transA ? a[t * lda + i] : a[i * lda + t]
                    let bv = transB ? b[j * ldb + t] : b[t * ldb + j]
                    s += Double(av) * Double(bv)
                }
                out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    private var backends: [Gemm.Backend] { Gemm.blasAvailable ? [.blas, .portable] : [.portable] }

    private func check(backend: Gemm.Backend, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                       alpha: Float, beta: Float, pad: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let aRows = transA ? k : m, aCols = transA ? m : k
        let bRows = transB ? n : k, bCols = transB ? k : n
        let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
        let a = (0..<(aRows * lda)).map { _ in Float.random(in: -1...1) }
        let b = (0..<(bRows * ldb)).map { _ in Float.random(in: -1...1) }
        var c = (0..<(m * ldc)).map { _ in Float.random(in: -1...1) }
        let expected = reference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Double(alpha),
                                 a: a, lda: lda, b: b, ldb: ldb, beta: Double(beta), c: c, ldc: ldc)
        // the error is measured against the size of the terms, |α|·Σ|a||b| + |β||c|, not of the
        // result: with β < 0 a small result can be a cancellation (seen: m = n = k = 1)
        let scale = reference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Double(abs(alpha)),
                              a: a.map(abs), lda: lda, b: b.map(abs), ldb: ldb, beta: Double(abs(beta)), c: c.map(abs), ldc: ldc)
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    try Gemm.multiply(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                      a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                      beta: beta, c: pc.baseAddress!, ldc: ldc, backend: backend)
                }
            }
        }
        var errNorm = 0.0, refNorm = 0.0
        for i in 0..<m {
            for j in 0..<n {
                let d = Double(c[i * ldc + j]) - expected[i * ldc + j]
                errNorm += d * d; refNorm += scale[i * ldc + j] * scale[i * ldc + j]
            }
            // padding columns must be untouched
            for j in n..<ldc { XCTAssertEqual(Double(c[i * ldc + j]), expected[i * ldc + j], file: file, line: line) }
        }
        let rel = (errNorm / max(refNorm, 1e-300)).squareRoot()
        XCTAssertLessThan(rel, 1e-5, "\(backend) tA=\(transA) tB=\(transB) m=\(m) n=\(n) k=\(k) α=\(alpha) β=\(beta)",
                          file: file, line: line)
    }

    func testAllTransposesOddShapesAlphaBeta() throws {
        let shapes = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (70, 19, 130), (5, 300, 2)]
        for backend in backends {
            for (m, n, k) in shapes {
                for transA in [false, true] {
                    for transB in [false, true] {
                        try check(backend: backend, transA: transA, transB: transB, m: m, n: n, k: k,
                                  alpha: 0.75, beta: -0.5, pad: 3)
                    }
                }
            }
        }
    }

    func testBetaZeroOverwritesNaNAndBetaOneAccumulates() throws {
        for backend in backends {
            var c = [Float](repeating: .nan, count: 6)
            let a: [Float] = [1, 2, 3, 4]       // 2×2
            let b: [Float] = [1, 0, 2, 0, 1, 3] // 2×3
            try a.withUnsafeBufferPointer { pa in try b.withUnsafeBufferPointer { pb in try c.withUnsafeMutableBufferPointer { pc in
                try Gemm.multiply(m: 2, n: 3, k: 2, a: pa.baseAddress!, lda: 2, b: pb.baseAddress!, ldb: 3,
                                  beta: 0, c: pc.baseAddress!, ldc: 3, backend: backend)
                try Gemm.multiply(m: 2, n: 3, k: 2, alpha: 2, a: pa.baseAddress!, lda: 2, b: pb.baseAddress!, ldb: 3,
                                  beta: 1, c: pc.baseAddress!, ldc: 3, backend: backend)
            } } }
            // A·B = [[1,2,8],[3,4,18]]; then C = 3·A·B
            XCTAssertEqual(c, [3, 6, 24, 9, 12, 54], "\(backend)")
        }
    }

    func testParallelBlockedPathOnLargerProduct() throws {
        // Crosses the panel (256 columns), depth (256) and row-chunk (64) boundaries and the parallel threshold.
        try check(backend: .portable, transA: false, transB: true, m: 130, n: 270, k: 260, alpha: 1, beta: 0, pad: 0)
        try check(backend: .portable, transA: true, transB: false, m: 65, n: 257, k: 300, alpha: -1.5, beta: 2, pad: 1)
    }

    func testZeroDepthScalesC() throws {
        for backend in backends {
            let r = try Gemm.multiply([], [], m: 2, n: 2, k: 0, backend: backend)
            XCTAssertEqual(r, [0, 0, 0, 0])
        }
    }

    func testArrayConvenienceMatchesAndRejectsBadInput() throws {
        let a = (0..<12).map { _ in Float.random(in: -1...1) }   // 3×4
        let b = (0..<20).map { _ in Float.random(in: -1...1) }   // 4×5
        let c = try Gemm.multiply(a, b, m: 3, n: 5, k: 4)
        for i in 0..<3 { for j in 0..<5 {
            let s = (0..<4).reduce(0.0) { $0 + Double(a[i * 4 + $1]) * Double(b[$1 * 5 + j]) }
            XCTAssertEqual(Double(c[i * 5 + j]), s, accuracy: 1e-5)
        } }
        XCTAssertThrowsError(try Gemm.multiply(a, b, m: 3, n: 5, k: 5)) { XCTAssertTrue("\($0)".contains("A has 12")) }
        var out = [Float](repeating: 0, count: 4)
        XCTAssertThrowsError(try a.withUnsafeBufferPointer { pa in try out.withUnsafeMutableBufferPointer { pc in
            try Gemm.multiply(m: 2, n: 2, k: 4, a: pa.baseAddress!, lda: 3, b: pa.baseAddress!, ldb: 2, c: pc.baseAddress!, ldc: 2)
        } }) { XCTAssertTrue("\($0)".contains("leading dimension"), "\($0)") }
    }

    func testSingleThreadedBLASRegionRestoresThreadCount() throws {
        guard let lib = BLASLibrary.shared, let get = lib.getThreads else { throw XCTSkip("no OpenBLAS loaded") }
        let before = get()
        let inside = Gemm.withSingleThreadedBLAS { Gemm.withSingleThreadedBLAS { get() } }
        XCTAssertEqual(inside, 1)
        XCTAssertEqual(get(), before)
    }

    func testBackendDescriptionNamesTheBackend() {
        XCTAssertTrue(Gemm.backendDescription.contains(Gemm.blasAvailable ? "BLAS" : "portable"))
        XCTAssertNil(BLASLibrary.load(environment: "none"))
    }
}
