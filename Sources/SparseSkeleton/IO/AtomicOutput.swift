import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every file this project writes goes through here: an output may not be (or resolve to, through
/// symbolic links, or be the same inode as) a file this process reads, nor lie inside a folder it
/// reads; and an existing file is only ever replaced atomically — the bytes go to a temporary file
/// in the same folder, are flushed to disk, and the temporary is renamed over the old name, so a
/// reader sees the old file or the new one, never a mix.
public enum AtomicOutput {
    /// Marks files (or folders: everything inside them too) as inputs of this process. Absent paths are skipped.
    public static func protect(_ paths: [String?]) {
        let ids = paths.compactMap { $0 }.compactMap(Identity.init(existing:))
        registry.lock.lock(); defer { registry.lock.unlock() }
        registry.inputs += ids
    }

    /// Throws, naming both, when an output collides with an input; also when it exists and is not a regular file.
    public static func check(_ outputs: [String?]) throws {
        for case let output? in outputs { _ = try target(output) }
    }

    /// Writes `bytes` to `path` atomically (temporary sibling, fsync, rename), after `check`.
    public static func write<D: DataProtocol>(_ bytes: D, to path: String) throws {
        let final = try target(path)
        let folder = (final as NSString).deletingLastPathComponent
        let temp = (folder.isEmpty ? "." : folder) + "/." + (final as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw failure(path, "cannot create a temporary file beside it (\(String(cString: strerror(errno))))") }
        var ok = true
        for region in bytes.regions where ok {
            ok = region.withUnsafeBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let n = posixWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                    if n <= 0 { return false }
                    done += n
                }
                return true
            }
        }
        ok = ok && fsync(fd) == 0
        ok = close(fd) == 0 && ok
        guard ok, rename(temp, final) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw failure(path, "cannot write it (\(reason))")
        }
        syncFolder(folder)
    }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    /// Flushes a folder's entries (a rename inside it) to disk; best effort.
    static func syncFolder(_ folder: String) {
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    /// The path really written (a symbolic link's target), after the collision checks.
    static func target(_ output: String) throws -> String {
        let id = Identity(output: output)
        var st = stat()
        if lstat(id.path, &st) == 0, st.st_mode & S_IFMT != S_IFREG {
            throw SkeletonError.invalidArgument("output '\(output)' exists and is not a regular file")
        }
        registry.lock.lock(); defer { registry.lock.unlock() }
        if let input = registry.inputs.first(where: { $0.collides(with: id) }) {
            throw SkeletonError.invalidArgument(
                "output '\(output)' would overwrite the input '\(input.path)'\(input.isFolder ? " (or a file inside it)" : ""); choose another path")
        }
        return id.path
    }

    static func failure(_ path: String, _ reason: String) -> SkeletonError { .fileUnreadable(path: path, reason: reason) }

    /// A path made absolute with every symbolic link resolved (its folder's, when it does not exist yet).
    public static func resolved(_ path: String) -> String {
        if let r = realpath(path, nil) { defer { free(r) }; return String(cString: r) }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let parent = url.deletingLastPathComponent().path
        if parent == url.path { return url.path }
        return resolved(parent) + "/" + url.lastPathComponent
    }

    struct Identity {
        let path: String
        let inode: (device: UInt64, inode: UInt64)?
        let isFolder: Bool

        init?(existing path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            self.path = AtomicOutput.resolved(path)
            inode = (UInt64(st.st_dev), UInt64(st.st_ino))
            isFolder = st.st_mode & S_IFMT == S_IFDIR
        }

        init(output: String) {
            path = AtomicOutput.resolved(output)
            var st = stat()
            inode = stat(path, &st) == 0 ? (UInt64(st.st_dev), UInt64(st.st_ino)) : nil
            isFolder = false
        }

        /// Same resolved path, inside an input folder, or the same inode (a hard link) while the
        /// input is still the file it was (an inode number is reused once its file is deleted).
        func collides(with output: Identity) -> Bool {
            if output.path == path || (isFolder && output.path.hasPrefix(path + "/")) { return true }
            guard let a = inode, let b = output.inode, a == b else { return false }
            var st = stat()
            return stat(path, &st) == 0 && (UInt64(st.st_dev), UInt64(st.st_ino)) == a
        }
    }

    private final class Registry: @unchecked Sendable {
        let lock = NSLock()
        var inputs: [Identity] = []
    }

    private static let registry = Registry()
}

private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
