import CCurl

/// Turns a curl return code into a typed error: the one helper for libcurl's codes.
struct CurlError: Error, CustomStringConvertible {
    let code: CURLcode
    let operation: String

    var description: String {
        "\(operation): \(String(cString: curl_easy_strerror(code)))"
    }
}

@inline(__always)
func curlCheck(_ code: CURLcode, _ operation: @autoclosure () -> String) throws(CurlError) {
    guard code == CURLE_OK else { throw CurlError(code: code, operation: operation()) }
}

/// Process-wide libcurl set-up; call once before starting threads
/// (https://curl.se/libcurl/c/curl_global_init.html).
public enum CurlGlobal {
    public static func initialize() {
        curl_global_init(Int(CURL_GLOBAL_ALL))
    }
}
