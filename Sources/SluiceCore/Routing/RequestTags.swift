/// Tags attached to a request (`X-Sluice-Tags: team=support, project_id=bot`).
public enum RequestTags {
    /// Parses the header value. Names and values are trimmed; a malformed pair is a 400.
    public static func parse(header: String) throws(GatewayError) -> [String: String] {
        var tags: [String: String] = [:]
        for pair in header.split(separator: ",") where !String(pair).trimmingASCIIWhitespace().isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let name = parts.first.map { String($0).trimmingASCIIWhitespace() } ?? ""
            let value = parts.count == 2 ? String(parts[1]).trimmingASCIIWhitespace() : ""
            guard parts.count == 2, !name.isEmpty, !value.isEmpty, name.utf8.count <= 64, value.utf8.count <= 256 else {
                throw GatewayError.invalidRequest(
                    "Malformed X-Sluice-Tags header: expected 'name=value, name=value' (names up to 64 bytes, values up to 256).")
            }
            // Tags land in audit records, usage reports and metrics: never a credential.
            guard !GatewayError.looksLikeCredential(value), !GatewayError.looksLikeCredential(name) else {
                throw GatewayError.invalidRequest("X-Sluice-Tags holds a value shaped like a credential; tags are "
                                                  + "recorded in audit and usage reports, so it is refused.")
            }
            tags[name] = value
        }
        return tags
    }
}

extension String {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    public func trimmingASCIIWhitespace() -> String {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
