/// Tags attached to a request (`X-Sluice-Tags: team=support, project_id=bot`).
public enum RequestTags {
    /// Parses the header value. Names and values are trimmed; a malformed pair is a 400.
    public static func parse(header: String) throws(GatewayError) -> [String: String] {
        var tags: [String: String] = [:]
        for pair in header.split(separator: ",") where !String(pair).trimmed.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let name = parts.first.map { String($0).trimmed } ?? ""
            let value = parts.count == 2 ? String(parts[1]).trimmed : ""
            guard parts.count == 2, !name.isEmpty, !value.isEmpty, name.utf8.count <= 64, value.utf8.count <= 256 else {
                throw GatewayError.invalidRequest(
                    "Malformed X-Sluice-Tags header: expected 'name=value, name=value' (names up to 64 bytes, values up to 256).")
            }
            tags[name] = value
        }
        return tags
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmed: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return String(scalars[first...last])
    }
}
