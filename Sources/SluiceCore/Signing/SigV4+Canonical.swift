/// The canonical request of Signature Version 4
/// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html#create-canonical-request).
extension SigV4 {
    /// The canonical request's text and its `SignedHeaders` list.
    ///
    /// `rawPath` and `rawQuery` are exactly as sent on the wire (already percent-encoded);
    /// `headers` maps lower-case names to their values in order.
    static func canonicalRequest(method: String, rawPath: String, rawQuery: String, headers: [String: [String]],
                                 payloadHash: String) -> (text: String, signedHeaders: String) {
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { name in
            name + ":" + headers[name, default: []].map(trimmedValue).joined(separator: ",") + "\n"
        }.joined()
        let signedHeaders = names.joined(separator: ";")
        let text = [method.uppercased(), canonicalURI(rawPath), canonicalQuery(rawQuery), canonicalHeaders, signedHeaders,
                    payloadHash].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// Every service but S3: the normalised path with each segment URI-encoded once more
    /// than it was sent (`%3A` becomes `%253A`).
    static func canonicalURI(_ rawPath: String) -> String {
        guard !rawPath.isEmpty else { return "/" }
        var segments: [Substring] = []
        let parts = rawPath.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in parts.enumerated() {
            switch segment {
            case ".": continue
            case "..": if segments.count > 1 { segments.removeLast() }
            case "" where index > 0 && index < parts.count - 1: continue  // `//` collapses
            default: segments.append(segment)
            }
        }
        var path = segments.map { uriEncode(String($0)) }.joined(separator: "/")
        if !path.hasPrefix("/") { path = "/" + path }
        if rawPath.hasSuffix("/") && !path.hasSuffix("/") { path += "/" }
        return path
    }

    /// Parameters decoded, then each name and value URI-encoded, sorted by name then value.
    static func canonicalQuery(_ rawQuery: String) -> String {
        guard !rawQuery.isEmpty else { return "" }
        let pairs = rawQuery.split(separator: "&").map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = uriEncode(percentDecode(String(parts[0])))
            let value = parts.count > 1 ? uriEncode(percentDecode(String(parts[1]))) : ""
            return (name, value)
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Every byte except the unreserved `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex).
    public static func uriEncode(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func percentDecode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
               let high = ASCIIHex.value(bytes[index + 1]), let low = ASCIIHex.value(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index] == UInt8(ascii: "+") ? UInt8(ascii: " ") : bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }


    /// Leading and trailing blanks removed, inner runs of blanks collapsed to one space.
    static func trimmedValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// The authority, path and query of an absolute URL, as written.
    struct URLParts {
        var authority = ""
        var path = "/"
        var query = ""

        init(_ url: String) {
            var rest = Substring(url)
            if let schemeEnd = rest.firstRange(of: "://") { rest = rest[schemeEnd.upperBound...] }
            if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
            let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            authority = String(rest[..<pathStart])
            if let userInfo = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: userInfo)...]) }
            let target = rest[pathStart...]
            if let mark = target.firstIndex(of: "?") {
                path = String(target[..<mark])
                query = String(target[target.index(after: mark)...])
            } else {
                path = String(target)
            }
            if path.isEmpty { path = "/" }
        }
    }
}
