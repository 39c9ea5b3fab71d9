import SparseSkeleton
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. The GGUF's tensor data is read in place from this
/// mapping (the SmolLM2 file is ~98 MB), so loading touches each page once while dequantising.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT { throw ModelError.fileNotFound(path: path, what: "model file") }
            throw SkeletonError.fileUnreadable(path: path, reason: reason)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SkeletonError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw SkeletonError.fileUnreadable(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw SkeletonError.fileUnreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit { if let base { munmap(base, bytes.count) } }
}
