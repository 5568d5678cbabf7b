/// Where a request is going, as the gateway routes it.
public enum APIPath {
    /// The API path: query string dropped, anything before `/v1/` (an estate's mount prefix) ignored.
    public static func of(uri: String) -> String {
        var uri = uri
        return uri.withUTF8 { bytes in
            let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
            let path = UnsafeBufferPointer(rebasing: bytes[..<end])
            let healthz = "/sluice/healthz".utf8
            if path.count >= healthz.count, path[(path.count - healthz.count)...].elementsEqual(healthz) {
                return "/sluice/healthz"
            }
            // The first "/v1/": the API path under an estate's mount prefix.
            var index = 0
            while index + 4 <= path.count {
                if path[index] == UInt8(ascii: "/"), path[index + 1] == UInt8(ascii: "v"), path[index + 2] == UInt8(ascii: "1"),
                   path[index + 3] == UInt8(ascii: "/") {
                    return String(decoding: UnsafeBufferPointer(rebasing: path[index...]), as: UTF8.self)
                }
                index += 1
            }
            return String(decoding: path, as: UTF8.self)
        }
    }

}
