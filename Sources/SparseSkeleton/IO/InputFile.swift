#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file opened for reading: its size is known before anything is loaded, and reads are
/// positioned (`pread`), so a reader loads only the ranges it has validated.
///
/// Only regular files are opened: a FIFO, a device or a socket would block or never end. The type
/// is checked with `stat` before `open` (so a FIFO is never opened) and again on the descriptor,
/// which is opened non-blocking in case the path was swapped in between.
public final class InputFile {
    public let path: String
    public let size: Int
    /// The open descriptor (owned: closed when this object goes), e.g. for `mmap`.
    public let fd: Int32

    public init(path: String) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else { throw Self.openError(path: path, errno: errno) }
        try Self.requireRegular(st.st_mode, path: path)
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Self.openError(path: path, errno: errno) }
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw Self.openError(path: path, errno: e)
        }
        do { try Self.requireRegular(st.st_mode, path: path) } catch { close(fd); throw error }
        self.fd = fd
        size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// The file type's name when it is not a regular file, else nil.
    static func nonRegularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }

    static func requireRegular(_ mode: mode_t, path: String) throws {
        if let kind = nonRegularKind(mode) {
            throw SkeletonError.fileUnreadable(path: BoundedText.path(path), reason: "is \(kind); only regular files are read")
        }
    }

    static func openError(path: String, errno e: Int32) -> SkeletonError {
        .fileUnreadable(path: BoundedText.path(path), reason: e == ENOENT ? "no such file" : String(cString: strerror(e)))
    }

    /// `count` bytes from `offset`; the range must lie inside the file (the caller has checked it
    /// against `size`), and a file that shrank since the open is reported as truncated.
    public func read(offset: Int, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw SkeletonError.fileTruncated(path: BoundedText.path(path), expectedBytes: CheckedMath.add(offset, count) ?? Int.max,
                                              actualBytes: size)
        }
        var done = 0
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            // unread bytes are zeroed so the array is fully initialised; the error below discards it
            if done < count { (buffer.baseAddress! + done).initialize(repeating: 0, count: count - done) }
            initialized = count
        }
        if failure != 0 {
            throw SkeletonError.fileUnreadable(path: BoundedText.path(path), reason: String(cString: strerror(failure)))
        }
        guard done == count else {
            throw SkeletonError.fileTruncated(path: BoundedText.path(path), expectedBytes: offset + count, actualBytes: offset + done)
        }
        return bytes
    }

    /// The whole file.
    public func readAll() throws -> [UInt8] { try read(offset: 0, count: size) }
}
