#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A CBLAS `cblas_sgemm` found at run time with `dlopen`; nothing is linked at build time, so
/// the binary runs (on the portable kernel) on machines without any BLAS installed.
///
/// Search order: the absolute path in the environment variable `SKELETON_BLAS` (the value `none`
/// disables BLAS; a relative path is ignored, `LibrarySearch`), then `libopenblas.so.0`,
/// `libopenblas.so`, `libblas.so.3`, `libblas.so` through the system loader's search.
/// On Debian/Ubuntu `apt-get install libopenblas0-pthread` provides the first two.
struct BLASLibrary: @unchecked Sendable {
    /// `cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)` with
    /// 32-bit integers (the LP64 interface every distribution ships).
    typealias SgemmFunction = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32,
        Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32
    ) -> Void
    typealias SetThreadsFunction = @convention(c) (Int32) -> Void
    typealias GetThreadsFunction = @convention(c) () -> Int32

    // CBLAS enum values (cblas.h).
    static let rowMajor: Int32 = 101
    static let noTrans: Int32 = 111
    static let trans: Int32 = 112

    let path: String
    let sgemm: SgemmFunction
    /// `openblas_set_num_threads`, present only in OpenBLAS.
    let setThreads: SetThreadsFunction?
    /// `openblas_get_num_threads`, present only in OpenBLAS.
    let getThreads: GetThreadsFunction?

    static let candidates = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3", "libblas.so"]

    /// The library this process uses, loaded once on first use; nil when none is found.
    static let shared: BLASLibrary? = load(environment: getenv("SKELETON_BLAS").map { String(cString: $0) })

    static func load(environment override: String?) -> BLASLibrary? {
        var paths = candidates
        if let override, !override.isEmpty {
            if override.lowercased() == "none" { return nil }
            if override.hasPrefix("/") { paths.insert(override, at: 0) }
        }
        for path in paths {
            if let lib = open(path) { return lib }
        }
        return nil
    }

    static func open(_ path: String) -> BLASLibrary? {
        guard LibrarySearch.isAllowed(path), let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { return nil }
        guard let sym = dlsym(handle, "cblas_sgemm") else {
            dlclose(handle)
            return nil
        }
        let threads = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetThreadsFunction.self) }
        let getThreads = dlsym(handle, "openblas_get_num_threads").map { unsafeBitCast($0, to: GetThreadsFunction.self) }
        return BLASLibrary(path: path, sgemm: unsafeBitCast(sym, to: SgemmFunction.self), setThreads: threads,
                           getThreads: getThreads)
    }
}
