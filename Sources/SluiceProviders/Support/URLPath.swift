import SluiceCore

/// Building URL paths from values (model ids, deployment names) that may hold `:` or `/`.
public enum URLPath {
    /// `value` as one path segment: every byte except the unreserved `A-Z a-z 0-9 - _ . ~`
    /// percent-encoded, so `anthropic.claude-v2:1` becomes `anthropic.claude-v2%3A1` and an
    /// ARN's `/` stays inside the segment (`%2F`), as the AWS SDKs send model ids.
    public static func segment(_ value: String) -> String {
        SigV4.uriEncode(value)
    }
}
