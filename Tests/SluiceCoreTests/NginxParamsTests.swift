import Foundation
import XCTest

/// nginx passes the pool only the client headers `sluice-locations.conf` names
/// (`fastcgi_pass_request_headers off`): a header the responder reads but the file does not
/// pass would silently never arrive. Every `HTTP_*` param name the sources read must be
/// passed there, and nothing else is.
final class NginxParamsTests: XCTestCase {
    private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `"HTTP_…"` string literals in the sources.
    private func namesRead() throws -> Set<String> {
        var names: Set<String> = []
        let pattern = try NSRegularExpression(pattern: #""(HTTP_[A-Z0-9_]+)""#)
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                names.insert(String(text[Range(match.range(at: 1), in: text)!]))
            }
        }
        return names
    }

    func testEveryClientHeaderTheResponderReadsIsPassedAndNoOther() throws {
        let conf = try String(contentsOf: root.appendingPathComponent("nginx/sluice-locations.conf"), encoding: .utf8)
        let lines = conf.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        let passed = Set(lines.compactMap { line -> String? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "fastcgi_param", words[1].hasPrefix("HTTP_") else { return nil }
            return String(words[1])
        })
        let read = try namesRead()
        XCTAssertFalse(read.isEmpty, "the sources read some headers (HTTP_X_SLUICE_TAGS at least)")
        XCTAssertTrue(read.contains("HTTP_X_SLUICE_TAGS"))
        XCTAssertEqual(passed, read, "sluice-locations.conf must pass exactly the headers the responder reads")
        // Headers pass only by name: every location that talks to the pool turns the rest off.
        XCTAssertEqual(lines.filter { $0.hasPrefix("fastcgi_pass ") }.count,
                       lines.filter { $0 == "fastcgi_pass_request_headers off;" }.count)
    }
}
