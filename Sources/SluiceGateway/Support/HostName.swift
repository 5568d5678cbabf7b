import Glibc

/// This machine's host name (`localhost` if it cannot be read): the audit writer ids,
/// the OTLP resource, admin records.
enum HostName {
    static var current: String {
        var name = [CChar](repeating: 0, count: 256)
        return gethostname(&name, 255) == 0 ? String(cString: name) : "localhost"
    }
}
