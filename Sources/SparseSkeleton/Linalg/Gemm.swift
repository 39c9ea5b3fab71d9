import Foundation

/// Single-precision general matrix product on row-major matrices:
///
///     C = α · op(A) · op(B) + β · C,    op(X) = X or Xᵀ,
///
/// with op(A) of shape m×k, op(B) of shape k×n and C of shape m×n. Leading dimensions are row
/// strides in elements: A is stored (transA ? k×m : m×k) with row stride `lda`, likewise B, and C
/// with row stride `ldc`. Because strides are free, a head's rows inside an [N, heads, headDim]
/// tensor are a matrix with leading dimension heads·headDim — no copy needed.
///
/// Two backends: `cblas_sgemm` from a BLAS found at run time (see `BLASLibrary`: OpenBLAS by
/// default, `SKELETON_BLAS=/path/lib.so` to choose, `SKELETON_BLAS=none` to disable) and the
/// portable blocked SIMD kernel (`PortableGemm`, multithreaded with Dispatch). Both follow BLAS
/// semantics, including β = 0 ignoring whatever C held.
public enum Gemm {
    public enum Backend: String, Sendable, CaseIterable {
        /// `cblas_sgemm` from the dynamically loaded BLAS.
        case blas
        /// The pure-Swift blocked SIMD kernel.
        case portable
    }

    /// Whether a BLAS library was found.
    public static var blasAvailable: Bool { BLASLibrary.shared != nil }

    /// The backend `multiply` uses when none is named.
    public static var defaultBackend: Backend { blasAvailable ? .blas : .portable }

    /// One line for logs and `skeleton doctor`: which backend and, for BLAS, which library.
    public static var backendDescription: String {
        if let lib = BLASLibrary.shared { return "BLAS cblas_sgemm from \(lib.path)" }
        return "portable Swift SIMD kernel (no BLAS found; install libopenblas0-pthread or set SKELETON_BLAS)"
    }

    /// Sets OpenBLAS's own thread count (no effect for other BLAS libraries or the portable
    /// kernel). Callers that already parallelise over many small products may want 1.
    public static func setBLASThreads(_ count: Int) {
        guard count > 0, let set = BLASLibrary.shared?.setThreads else { return }
        set(Int32(clamping: count))
    }

    /// Runs `body` with OpenBLAS limited to one thread, restoring its thread count afterwards.
    /// For callers that parallelise over many products themselves (reference attention, block
    /// masses): OpenBLAS spawning its own threads inside each of those workers oversubscribes the
    /// cores (measured: dense reference attention at N = 8192 ran ~3× slower). Nested and concurrent
    /// uses are counted; the count is restored when the last one leaves. No effect without OpenBLAS.
    public static func withSingleThreadedBLAS<T>(_ body: () throws -> T) rethrows -> T {
        BLASThreadLimit.shared.enter()
        defer { BLASThreadLimit.shared.leave() }
        return try body()
    }

    /// C = α · op(A) · op(B) + β · C on raw row-major storage (see the type's documentation).
    /// Throws `invalidArgument` for negative sizes, leading dimensions smaller than a row, or a
    /// BLAS backend asked for when none is loaded. The pointers must cover the described matrices.
    public static func multiply(transA: Bool = false, transB: Bool = false,
                                m: Int, n: Int, k: Int,
                                alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0,
                                c: UnsafeMutablePointer<Float>, ldc: Int,
                                backend: Backend? = nil) throws {
        guard m >= 0, n >= 0, k >= 0 else {
            throw SkeletonError.invalidArgument("matrix product sizes must be non-negative, got m=\(m) n=\(n) k=\(k)")
        }
        let aCols = transA ? m : k, bCols = transB ? k : n
        guard lda >= max(1, aCols), ldb >= max(1, bCols), ldc >= max(1, n) else {
            throw SkeletonError.invalidArgument(
                "leading dimension too small: lda=\(lda) (rows of \(aCols)), ldb=\(ldb) (rows of \(bCols)), ldc=\(ldc) (rows of \(n))")
        }
        let chosen = backend ?? defaultBackend
        if chosen == .blas {
            guard let lib = BLASLibrary.shared else {
                throw SkeletonError.invalidArgument("the BLAS backend was requested but no BLAS library was loaded")
            }
            let limit = Int(Int32.max)
            if m <= limit, n <= limit, k <= limit, lda <= limit, ldb <= limit, ldc <= limit {
                guard m > 0, n > 0 else { return }
                lib.sgemm(BLASLibrary.rowMajor,
                          transA ? BLASLibrary.trans : BLASLibrary.noTrans,
                          transB ? BLASLibrary.trans : BLASLibrary.noTrans,
                          Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                          beta, c, Int32(ldc))
                return
            }
            // Sizes beyond 32-bit BLAS integers: the portable kernel takes them.
        }
        PortableGemm.run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Array convenience: returns op(A) · op(B) (m×n, row-major, tightly packed) for tightly packed
    /// A and B. Throws `shapeMismatch` when the arrays do not hold the described matrices.
    public static func multiply(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int,
                                transA: Bool = false, transB: Bool = false,
                                backend: Backend? = nil) throws -> [Float] {
        guard m >= 0, n >= 0, k >= 0 else {
            throw SkeletonError.invalidArgument("matrix product sizes must be non-negative, got m=\(m) n=\(n) k=\(k)")
        }
        guard a.count == m * k else { throw SkeletonError.shapeMismatch("A has \(a.count) values, \(m)×\(k) needs \(m * k)") }
        guard b.count == k * n else { throw SkeletonError.shapeMismatch("B has \(b.count) values, \(k)×\(n) needs \(k * n)") }
        var c = [Float](repeating: 0, count: m * n)
        if m == 0 || n == 0 { return c }
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    // k == 0 leaves empty A/B buffers whose baseAddress may be nil; any pointer will do.
                    let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)
                    defer { dummy.deallocate() }
                    try multiply(transA: transA, transB: transB, m: m, n: n, k: k,
                                 a: pa.baseAddress ?? UnsafePointer(dummy), lda: max(1, transA ? m : k),
                                 b: pb.baseAddress ?? UnsafePointer(dummy), ldb: max(1, transB ? k : n),
                                 c: pc.baseAddress!, ldc: n, backend: backend)
                }
            }
        }
        return c
    }
}

/// The nesting counter behind `Gemm.withSingleThreadedBLAS`.
final class BLASThreadLimit: @unchecked Sendable {
    static let shared = BLASThreadLimit()
    private let lock = NSLock()
    private var depth = 0
    private var saved: Int32 = 0

    func enter() {
        guard let lib = BLASLibrary.shared, let set = lib.setThreads, let get = lib.getThreads else { return }
        lock.lock(); defer { lock.unlock() }
        if depth == 0 { saved = get(); set(1) }
        depth += 1
    }

    func leave() {
        guard let lib = BLASLibrary.shared, let set = lib.setThreads, lib.getThreads != nil else { return }
        lock.lock(); defer { lock.unlock() }
        depth -= 1
        if depth == 0 { set(saved) }
    }
}
