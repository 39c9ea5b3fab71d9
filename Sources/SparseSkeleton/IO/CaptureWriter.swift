import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one capture folder so that no reader ever sees a partial or mixed one: the layer files go
/// into a staging folder beside the destination (`.<name>.partial-<pid>-<n>`), then the manifest,
/// then the completion marker, each flushed to disk; then the staging folder is swapped into place
/// in one rename. Of two captures into one destination the last to finish wins, whole.
public final class CaptureWriter {
    public let destination: String
    public let staging: String
    private var fileBytes: [String: Int] = [:]
    private var finished = false

    /// Fails now, before any work, when the destination may not be replaced: it must be absent, an
    /// empty folder, or a folder holding only capture files, none of them an input of this process.
    public init(destination: String) throws {
        let dest = AtomicOutput.resolved(destination)
        self.destination = dest
        try Self.checkReplaceable(dest)
        let parent = (dest as NSString).deletingLastPathComponent, name = (dest as NSString).lastPathComponent
        try DataDirectory.createFolder(parent)
        Self.removeStale(parent: parent, name: name)
        staging = parent + "/." + name + ".partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(staging, 0o755) == 0 else {
            throw SkeletonError.fileUnreadable(path: staging, reason: "cannot create the staging folder (\(String(cString: strerror(errno))))")
        }
    }

    deinit { if !finished { Self.removeCaptureFolder(staging) } }

    /// Writes one layer's tensor ("q", "k" or "v") into the staging folder.
    public func write(_ tensor: HeadTensor, layer: Int, role: String) throws {
        let name = String(format: "layer%02d_%@.npy", layer, role)
        let bytes = NPYFile.encode(tensor)
        try AtomicOutput.write(bytes, to: staging + "/" + name)
        fileBytes[name] = bytes.count
    }

    /// Seals the staging folder (manifest, then marker) and swaps it into place; returns the destination.
    @discardableResult
    public func finish(_ manifest: CaptureManifest) throws -> String {
        var m = manifest
        m.fileBytes = fileBytes
        let meta = try m.encoded()
        try AtomicOutput.write(meta, to: staging + "/" + CaptureManifest.fileName)
        try AtomicOutput.write(CaptureManifest.marker(for: meta), to: staging + "/" + CaptureManifest.markerName)
        _ = try CaptureManifest.verified(folder: staging)
        try Self.swap(staging, into: destination)
        finished = true
        return destination
    }

    static func isCaptureFile(_ name: String) -> Bool {
        if name == CaptureManifest.fileName || name == CaptureManifest.markerName { return true }
        guard name.hasPrefix("layer"), name.hasSuffix(".npy") else { return false }
        let body = name.dropFirst(5).dropLast(4)
        guard let us = body.firstIndex(of: "_"), Int(body[..<us]) != nil else { return false }
        return ["q", "k", "v"].contains(String(body[body.index(after: us)...]))
    }

    static func checkReplaceable(_ dest: String) throws {
        var st = stat()
        guard lstat(dest, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SkeletonError.invalidArgument("capture output '\(dest)' exists and is not a folder")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dest)) ?? []
        if let other = names.sorted().first(where: { !isCaptureFile($0) }) {
            throw SkeletonError.invalidArgument("capture output '\(dest)' holds '\(other)', which no capture writes; choose an empty or a capture folder")
        }
        try AtomicOutput.check(names.map { dest + "/" + $0 })
    }

    /// Puts `staged` at `dest` in one step: rename onto an absent name, else exchange with the folder
    /// there (Linux renameat2 RENAME_EXCHANGE) and delete the old one; where exchange is not
    /// available, move the old folder aside first (readers then briefly see no folder, never a mix).
    static func swap(_ staged: String, into dest: String) throws {
        for _ in 0..<16 {
            if rename(staged, dest) == 0 { AtomicOutput.syncFolder((dest as NSString).deletingLastPathComponent); return }
            guard errno == ENOTEMPTY || errno == EEXIST else { break }
            try checkReplaceable(dest)
            if let exchange = renameExchange, exchange(atCurrentDirectory, staged, atCurrentDirectory, dest, 2) == 0 {
                removeCaptureFolder(staged)
                AtomicOutput.syncFolder((dest as NSString).deletingLastPathComponent)
                return
            }
            let aside = staged + ".old"
            if rename(dest, aside) == 0 { removeCaptureFolder(aside) }
        }
        throw SkeletonError.fileUnreadable(path: dest, reason: "cannot move the finished capture into place (\(String(cString: strerror(errno))))")
    }

    /// Deletes a folder of capture files (and nothing else: a folder with other files is left).
    static func removeCaptureFolder(_ path: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where isCaptureFile(name) || name.hasPrefix(".") {
            unlink(path + "/" + name)
        }
        rmdir(path)
    }

    /// Removes staging folders of this destination left by captures that were killed (their process is gone).
    static func removeStale(parent: String, name: String) {
        let prefix = "." + name + ".partial-"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count).prefix(while: { $0 != "-" })), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { removeCaptureFolder(parent + "/" + entry) }
        }
    }

    private static let atCurrentDirectory: Int32 = -100
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    private static let renameExchange: RenameAt2? = {
        #if os(Linux)
        return dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }
        #else
        return nil
        #endif
    }()
}
