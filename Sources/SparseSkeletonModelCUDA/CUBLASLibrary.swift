#if canImport(Glibc)
import Glibc
#endif
import SparseSkeleton
import SparseSkeletonCUDA

/// cuBLAS opened with dlopen at run time (no link-time dependency): a handle bound to one
/// stream and the one product the model needs,
///
///     C[rows, out] (+)= A[rows, in] · W[out, in]ᵀ      A, W bf16; C fp32; fp32 accumulation,
///
/// i.e. `y = x·Wᵀ` with row-major weights as the CPU model stores them.
///
/// cuBLAS is column-major. A row-major [rows, out] C is the column-major (out × rows) matrix Cᵀ,
/// and Cᵀ = W·Aᵀ: W row-major [out, in] read column-major is Wᵀ (in × out, ld = in), so op(W) = T;
/// A row-major [rows, in] read column-major is already Aᵀ (in × rows, ld = in), so op(A) = N.
/// Hence gemm(T, N, m = out, n = rows, k = in, W, lda = in, A, ldb = in, C, ldc = out).
public final class CUBLASLibrary: @unchecked Sendable {
    public let path: String
    private let handle: OpaquePointer

    private typealias Create = @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias Destroy = @convention(c) (OpaquePointer?) -> Int32
    private typealias SetStream = @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32
    private typealias GemmEx = @convention(c) (
        OpaquePointer?, Int32, Int32, Int32, Int32, Int32,
        UnsafeRawPointer, UInt64, Int32, Int32, UInt64, Int32, Int32,
        UnsafeRawPointer, UInt64, Int32, Int32, Int32, Int32) -> Int32

    private let destroy: Destroy
    private let gemmEx: GemmEx

    // cuBLAS / CUDA enum values (cublas_api.h, library_types.h).
    static let opN: Int32 = 0, opT: Int32 = 1
    static let dataBF16: Int32 = 14, dataF32: Int32 = 0
    static let compute32F: Int32 = 68
    static let gemmDefault: Int32 = -1

    /// Opens cuBLAS and creates a handle that issues its work on `stream` (a CUstream; the same
    /// object as a cudaStream_t). The caller's context must be current (GPUDevice does that).
    public init(stream: OpaquePointer?) throws {
        let (lib, tried) = Self.open()
        guard let lib else {
            throw CUDAError.libraryNotFound(library: "libcublas", searched: tried,
                                            hint: "install the nvidia-cublas wheel or the CUDA toolkit, or set SKELETON_CUBLAS to the library's path")
        }
        path = lib.path
        func symbol<T>(_ name: String, _ type: T.Type) throws -> T { try lib.symbol(name, as: type) }
        let create = try symbol("cublasCreate_v2", Create.self)
        let setStream = try symbol("cublasSetStream_v2", SetStream.self)
        destroy = try symbol("cublasDestroy_v2", Destroy.self)
        gemmEx = try symbol("cublasGemmEx", GemmEx.self)
        var h: OpaquePointer? = nil
        try Self.check(create(&h), "cublasCreate_v2")
        guard let h else { throw CUDAError.unsupported("cublasCreate_v2 returned no handle") }
        handle = h
        try Self.check(setStream(h, stream), "cublasSetStream_v2")
    }

    deinit { _ = destroy(handle) }

    /// C[rows, outDim] = A[rows, inDim] · W[outDim, inDim]ᵀ (+ C when `accumulate`).
    /// A and W: bf16 device pointers; C: fp32 device pointer. Asynchronous on the handle's stream.
    public func linear(a: UInt64, w: UInt64, c: UInt64, rows: Int, inDim: Int, outDim: Int, accumulate: Bool) throws {
        guard rows > 0, inDim > 0, outDim > 0, rows <= Int(Int32.max), inDim <= Int(Int32.max), outDim <= Int(Int32.max) else {
            throw CUDAError.unsupported("GEMM of \(rows) × \(inDim) by \(outDim) × \(inDim) is empty or exceeds 32-bit sizes")
        }
        var alpha: Float = 1, beta: Float = accumulate ? 1 : 0
        let r = gemmEx(handle, Self.opT, Self.opN, Int32(outDim), Int32(rows), Int32(inDim),
                       &alpha, w, Self.dataBF16, Int32(inDim), a, Self.dataBF16, Int32(inDim),
                       &beta, c, Self.dataF32, Int32(outDim), Self.compute32F, Self.gemmDefault)
        try Self.check(r, "cublasGemmEx(\(rows)×\(inDim) · \(outDim)×\(inDim)ᵀ)")
    }

    /// cublasStatus_t names (cublas_api.h).
    static func statusName(_ code: Int32) -> String {
        switch code {
        case 0: return "CUBLAS_STATUS_SUCCESS"
        case 1: return "CUBLAS_STATUS_NOT_INITIALIZED"
        case 3: return "CUBLAS_STATUS_ALLOC_FAILED"
        case 7: return "CUBLAS_STATUS_INVALID_VALUE"
        case 8: return "CUBLAS_STATUS_ARCH_MISMATCH"
        case 11: return "CUBLAS_STATUS_MAPPING_ERROR"
        case 13: return "CUBLAS_STATUS_EXECUTION_FAILED"
        case 14: return "CUBLAS_STATUS_INTERNAL_ERROR"
        case 15: return "CUBLAS_STATUS_NOT_SUPPORTED"
        case 16: return "CUBLAS_STATUS_LICENSE_ERROR"
        default: return "cublasStatus \(code)"
        }
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code == 0 else { throw CUDAError.driver(call: call, code: code, name: statusName(code)) }
    }

    /// Where we look, in order: $SKELETON_CUBLAS, the loader's own search by soname, the CUDA
    /// toolkit folders, then pip's nvidia wheels (nvidia/cu13/lib, nvidia/cublas/lib) under every
    /// site-packages / dist-packages we can find. libcublasLt from the same folder is opened first
    /// (globally), so a wheel without an $ORIGIN rpath still resolves it.
    static func candidates() -> [String] {
        var out: [String] = []
        let o = LibrarySearch.override("SKELETON_CUBLAS")
        if let p = o.path ?? o.note { out.append(p) }  // a note is listed as searched, never opened
        let names = ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]
        out += names
        let dirs = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
            + nvidiaWheelLibraryDirectories()
        for dir in dirs { for n in names { out.append("\(dir)/\(n)") } }
        return out
    }

    /// Opens the first candidate that loads; before trying a path, libcublasLt from the same folder
    /// is opened (globally), so a wheel without an $ORIGIN rpath still resolves it.
    static func open() -> (DynamicLibrary?, [String]) {
        var tried: [String] = []
        for c in candidates() where !tried.contains(c) {
            tried.append(c)
            guard LibrarySearch.isAllowed(c) else { continue }
            if c.contains("/") {
                guard fileExists(c) else { continue }
                let dir = String(c[..<(c.lastIndex(of: "/") ?? c.endIndex)])
                if let lt = c.replacingLastComponent(in: dir) { _ = DynamicLibrary.open(candidates: [lt]) }
            }
            if let lib = DynamicLibrary.open(candidates: [c]).0 { return (lib, tried) }
        }
        return (nil, tried)
    }
}

private extension String {
    /// "…/libcublas.so.13" → "<dir>/libcublasLt.so.13" when that file exists.
    func replacingLastComponent(in dir: String) -> String? {
        guard let slash = lastIndex(of: "/") else { return nil }
        let file = self[index(after: slash)...]
        guard file.hasPrefix("libcublas.") else { return nil }
        let lt = dir + "/libcublasLt." + file.dropFirst("libcublas.".count)
        return access(lt, F_OK) == 0 ? lt : nil
    }
}
