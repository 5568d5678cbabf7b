import Glibc
import SluiceCore

/// Newline-delimited JSON files, one per UTC day of the records' `ts_ms`:
/// `<directory>/audit-2026-11-26.ndjson`.
///
/// Each line wraps one stream entry:
/// `{"stream_id":"1795…-0","hash":"…","prev":"…","record":{…}}`. The record is the stream's
/// JSON text byte for byte, so the hash chain can be checked from the files alone
/// (`hash` = SHA-1 hex of `prev + "\n" + record`). Delivery is at least once: a crash
/// between the fsync and the acknowledgement repeats lines, which readers drop by
/// `stream_id` (or `record.request_id`).
///
/// A batch is appended with one `write(2)` per file under an exclusive `flock`, then
/// `fsync`ed; a new file also fsyncs the directory, so the file's name survives a crash.
/// A failed append is truncated away, so a file never holds half a line.
public final class FileAuditDestination: AuditDestination {
    /// The directory the files go to (created if missing).
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var displayName: String { "file:\(directory)" }

    public func prepare() throws(AuditDestinationError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") where component != "." {
            let parent = path.isEmpty ? "/" : path
            path += "/" + component
            if mkdir(path, 0o750) == 0 {
                try syncDirectory(parent)  // the new directory's name is durable too
            } else if errno != EEXIST {
                throw failure("cannot create the directory \(path)")
            }
        }
        var status = stat()
        guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw AuditDestinationError(.invalid, "\(directory) is not a directory")
        }
    }

    @discardableResult
    public func write(_ entries: [AuditDrainer.Entry]) throws(AuditDestinationError) -> Int? {
        // One buffer per day file, in stream order.
        var days: [String] = []
        var lines: [String: [UInt8]] = [:]
        for entry in entries {
            let day = String(AuditRecord.iso8601(entry.timeMs).prefix(10))
            if lines[day] == nil { days.append(day) }
            lines[day, default: []].append(contentsOf: entry.document.utf8)
            lines[day, default: []].append(UInt8(ascii: "\n"))
        }
        var createdFile = false
        for day in days {
            createdFile = try append(lines[day]!, to: "\(directory)/audit-\(day).ndjson") || createdFile
        }
        if createdFile { try syncDirectory(directory) }
        return nil
    }

    /// Appends `bytes` to `path` and fsyncs it; returns whether the file was created.
    private func append(_ bytes: [UInt8], to path: String) throws(AuditDestinationError) -> Bool {
        var created = false
        var fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd >= 0 {
                created = true
            } else if errno == EEXIST {  // another drainer created it first
                fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            }
        }
        guard fd >= 0 else { throw failure("cannot open \(path)") }
        defer { close(fd) }
        // Several drainers may share the directory: the lock keeps a truncation below
        // from cutting another drainer's lines.
        guard flock(fd, LOCK_EX) == 0 else { throw failure("cannot lock \(path)") }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw failure("cannot stat \(path)") }
        let sizeBefore = status.st_size

        var written = 0
        var failed: AuditDestinationError?
        bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let result = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                if result > 0 {
                    written += result
                } else if result < 0 && errno == EINTR {
                    continue
                } else {
                    failed = failure("cannot append to \(path)")
                    return
                }
            }
        }
        if failed == nil && fsync(fd) != 0 { failed = failure("cannot fsync \(path)") }
        if let failed {
            _ = ftruncate(fd, sizeBefore)
            throw failed
        }
        return created
    }

    private func syncDirectory(_ path: String) throws(AuditDestinationError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("cannot open the directory \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw failure("cannot fsync the directory \(path)") }
    }

    /// A failed system call: the disk, not the record, is the problem.
    private func failure(_ what: String) -> AuditDestinationError {
        AuditDestinationError(.unavailable, "\(what): \(String(cString: strerror(errno)))")
    }
}
