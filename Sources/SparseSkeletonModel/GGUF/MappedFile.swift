import SparseSkeleton
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. The GGUF's tensor data is read in place from this
/// mapping (the SmolLM2 file is ~98 MB), so loading touches each page once while dequantising.
/// Only regular files are mapped (see `InputFile`: a FIFO is refused before it is opened).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let isMapping: Bool

    public init(path: String) throws {
        self.path = path
        var st = stat()
        if stat(path, &st) != 0, errno == ENOENT { throw ModelError.fileNotFound(path: BoundedText.path(path), what: "model file") }
        let file = try InputFile(path: path)
        isMapping = true
        if file.size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, file.size, PROT_READ, MAP_PRIVATE, file.fd, 0)
        guard let p, p != MAP_FAILED else {
            throw SkeletonError.fileUnreadable(path: BoundedText.path(path), reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: file.size)
    }

    /// A copy of `contents` standing in for a file at `path` (tests and fuzzing parse from memory).
    public init(copying contents: [UInt8], path: String) {
        self.path = path
        isMapping = false
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(contents.count, 1), alignment: 64)
        contents.withUnsafeBytes { if let src = $0.baseAddress { p.copyMemory(from: src, byteCount: contents.count) } }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: contents.count)
    }

    deinit {
        guard let base else { return }
        if isMapping { munmap(base, bytes.count) } else { base.deallocate() }
    }
}
