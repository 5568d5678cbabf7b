import CCurl
import SluiceCore
import Glibc

/// One libcurl easy handle, owned by one thread and reused for every call it makes, so
/// connections to providers stay alive between requests
/// (https://curl.se/libcurl/c/libcurl-easy.html).
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    public init() {
        guard let handle = curl_easy_init() else {
            // Only fails when out of memory; nothing sensible can continue.
            fatalError("curl_easy_init failed")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends `request` and feeds the response to `handler` as it arrives. Blocks.
    public func perform(_ request: UpstreamRequest, handler: UpstreamResponseHandler) -> UpstreamOutcome {
        let transfer = Transfer(handler: handler, limits: request.limits)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // `withCString` lends each line's bytes to curl (which copies them); a String passed
        // straight to C was first copied into a new array.
        func append(_ header: (name: String, value: String)) {
            var line = header.name
            line += ": "
            line += header.value
            headerList = line.withCString { curl_slist_append(headerList, $0) }
        }
        for header in request.headers { append(header) }
        for header in Self.signingHeaders(request) { append(header) }
        // No "Expect: 100-continue" round trip before a POST body.
        headerList = curl_slist_append(headerList, "Expect:")
        errorBuffer[0] = 0

        let code: CURLcode = request.body.withUnsafeBufferPointer { body in
            let context = Unmanaged.passUnretained(transfer).toOpaque()
            do throws(CurlError) {
                try configure(request, body: body, headers: headerList, context: context)
            } catch {
                transfer.setupError = error.description
                return CURLE_FAILED_INIT
            }
            return curl_easy_perform(handle)
        }
        return outcome(code, transfer)
    }

    private func configure(_ request: UpstreamRequest, body: UnsafeBufferPointer<UInt8>,
                           headers: UnsafeMutablePointer<curl_slist>?, context: UnsafeMutableRawPointer) throws(CurlError) {
        try curlCheck(request.url.withCString { sluice_curl_setopt_ptr(handle, CURLOPT_URL, $0) }, "URL")
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers), "HTTPHEADER")
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer), "ERRORBUFFER")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "NOSIGNAL")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1), "TCP_NODELAY")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1), "TCP_KEEPALIVE")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "FOLLOWLOCATION")
        // The handle is reused: a custom method of an earlier call must not carry over.
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_CUSTOMREQUEST, request.method == .delete ? "DELETE" : nil),
                      "CUSTOMREQUEST")
        switch request.method {
        case .post:
            try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_POST, 1), "POST")
            try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafePointer(bitPattern: 1)), "POSTFIELDS")
            try curlCheck(sluice_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "POSTFIELDSIZE")
        case .get, .delete:
            try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_HTTPGET, 1), "HTTPGET")
        }
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.millis(request.limits.connect)), "CONNECTTIMEOUT")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.millis(request.limits.total)), "TIMEOUT")
        try curlCheck(sluice_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, onBody), "WRITEFUNCTION")
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context), "WRITEDATA")
        try curlCheck(sluice_curl_setopt_write(handle, CURLOPT_HEADERFUNCTION, onHeader), "HEADERFUNCTION")
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context), "HEADERDATA")
        try curlCheck(sluice_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0), "NOPROGRESS")
        try curlCheck(sluice_curl_setopt_xferinfo(handle, CURLOPT_XFERINFOFUNCTION, onProgress), "XFERINFOFUNCTION")
        try curlCheck(sluice_curl_setopt_ptr(handle, CURLOPT_XFERINFODATA, context), "XFERINFODATA")
    }

    private func outcome(_ code: CURLcode, _ transfer: Transfer) -> UpstreamOutcome {
        let receivedHead = transfer.headDelivered
        if code == CURLE_OK {
            var status = 0
            _ = sluice_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            if !receivedHead { transfer.deliverHead(status: status) }
            return .completed(status: status)
        }
        if let reason = transfer.abortReason {
            return .failed(reason, receivedHead: receivedHead)
        }
        if let setupError = transfer.setupError {
            return .failed(.transport("request set-up failed: \(setupError)"), receivedHead: false)
        }
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            var connectTime = 0.0
            _ = sluice_curl_getinfo_double(handle, CURLINFO_CONNECT_TIME, &connectTime)
            return .failed(.timeout(connectTime == 0 ? .connect : .total), receivedHead: receivedHead)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_SSL_CONNECT_ERROR:
            return .failed(.connect(detail), receivedHead: false)
        case CURLE_ABORTED_BY_CALLBACK, CURLE_WRITE_ERROR:
            return .failed(.aborted, receivedHead: receivedHead)
        default:
            return .failed(.transport(detail), receivedHead: receivedHead)
        }
    }

    /// The AWS Signature Version 4 headers of a request that asks for them, signed now.
    ///
    /// Signed here rather than with libcurl's `CURLOPT_AWS_SIGV4`, which (7.88) signs the
    /// path as sent instead of encoding its segments again as AWS expects (see `SigV4`).
    /// The headers belong to this call only: nothing is left on the reused easy handle.
    private static func signingHeaders(_ request: UpstreamRequest) -> [(name: String, value: String)] {
        guard let signer = request.awsSigV4 else { return [] }
        return SigV4.signingHeaders(method: request.method.rawValue, url: request.url, headers: request.headers,
                                    body: request.body, signer: signer, unixTime: time(nil))
    }

    private static func millis(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// The state of one transfer, reached from curl's callbacks through their user pointer.
final class Transfer {
    let handler: UpstreamResponseHandler
    let limits: TransferLimits
    let started = ContinuousClock.now
    var lastData = ContinuousClock.now
    var status = 0
    var headers: [(name: String, value: String)] = []
    var headDelivered = false
    var abortReason: UpstreamFailure?
    var setupError: String?

    init(handler: UpstreamResponseHandler, limits: TransferLimits) {
        self.handler = handler
        self.limits = limits
        // Providers send 10-30 header lines (OpenAI's rate-limit headers alone are six).
        headers.reserveCapacity(32)
    }

    /// Hands the status and headers to the handler once; `false` if it wants to stop.
    @discardableResult
    func deliverHead(status: Int? = nil) -> Bool {
        guard !headDelivered else { return true }
        headDelivered = true
        if !handler.didReceiveHead(status: status ?? self.status, headers: headers) {
            abortReason = .aborted
            return false
        }
        return true
    }

    /// Parses one header line (curl calls once per line, status line included).
    func header(line: UnsafeRawBufferPointer) {
        let bytes = line.bindMemory(to: UInt8.self)
        func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 || byte == 10 }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        guard start < end else { return }
        if end - start >= 5, bytes[start] == UInt8(ascii: "H"), bytes[start + 1] == UInt8(ascii: "T"),
           bytes[start + 2] == UInt8(ascii: "T"), bytes[start + 3] == UInt8(ascii: "P"), bytes[start + 4] == UInt8(ascii: "/") {
            // A new response (after a 100 Continue or an interim reply): start over.
            headers.removeAll(keepingCapacity: true)
            var index = start
            while index < end, bytes[index] != 32 { index += 1 }
            while index < end, bytes[index] == 32 { index += 1 }
            var code = 0
            var digits = 0
            while index < end, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), digits < 3 {
                code = code * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            status = digits == 3 ? code : 0
            return
        }
        guard let colon = bytes[start..<end].firstIndex(of: UInt8(ascii: ":")) else { return }
        var nameEnd = colon
        while nameEnd > start, isSpace(bytes[nameEnd - 1]) { nameEnd -= 1 }
        var valueStart = colon + 1
        while valueStart < end, isSpace(bytes[valueStart]) { valueStart += 1 }
        let name = String(unsafeUninitializedCapacity: nameEnd - start) { buffer in
            for (offset, byte) in bytes[start..<nameEnd].enumerated() {
                buffer[offset] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
            }
            return nameEnd - start
        }
        let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<end]), as: UTF8.self)
        headers.append((name, value))
    }

    /// Checks the first-byte and idle limits and asks the handler whether to go on.
    func progress() -> Bool {
        let now = ContinuousClock.now
        if !headDelivered && now - started > limits.firstByte {
            abortReason = .timeout(.firstByte)
            return false
        }
        if headDelivered && now - lastData > limits.idle {
            abortReason = .timeout(.idle)
            return false
        }
        if !handler.shouldContinue() {
            abortReason = .aborted
            return false
        }
        return true
    }
}

private let onHeader: curl_write_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.header(line: UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}

private let onBody: curl_write_callback = { buffer, size, count, context in
    guard let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    guard transfer.headDelivered || transfer.deliverHead() else { return 0 }
    transfer.lastData = ContinuousClock.now
    guard transfer.handler.didReceive(UnsafeRawBufferPointer(start: buffer, count: length)) else {
        transfer.abortReason = .aborted
        return 0
    }
    return length
}

private let onProgress: curl_xferinfo_callback = { context, _, _, _, _ in
    guard let context else { return 1 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.progress() ? 0 : 1
}
