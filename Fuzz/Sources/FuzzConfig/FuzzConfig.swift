import SluiceCore

/// Secrets for the fuzzer, made up and never read from the process: `${env:NAME}`
/// resolves to a value for most names (by the name's length, some are unset, empty, or
/// hold a line break, to reach those checks); `${file:/run/secrets/…}` to a fixed value
/// and every other `${file:…}` is refused.
///
/// `ConfigFile.load(text:name:)` (SluiceGateway) is `ConfigLoader.parse` with the process
/// environment and the file system behind it: a fuzzer calling that could be steered
/// into reading any file (or a FIFO that never ends), so the harness calls
/// `ConfigLoader.parse` with this resolver instead.
struct FuzzSecrets: SecretResolving {
    func environmentValue(_ name: String) -> String? {
        switch name.utf8.count % 8 {
        case 0: return nil
        case 1: return ""
        case 2: return "line\nbreak"
        default: return "fuzz-secret-\(name)"
        }
    }

    func fileContents(_ path: String) throws -> String {
        guard path.hasPrefix("/run/secrets/") else { throw RefusedFile() }
        return "fuzz-file-secret\n\n"
    }

    struct RefusedFile: Error, CustomStringConvertible {
        var description: String { "the fuzzer reads no files" }
    }
}

/// libFuzzer entry point: the input is the text of `sluice.yaml`. A `ConfigError` is an
/// answer; a trap, a hang or runaway memory is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // The gateway reads the file as UTF-8 and refuses anything else before parsing.
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    do {
        let loaded = try ConfigLoader.parse(yaml: text, fileName: "fuzz.yaml", secrets: FuzzSecrets())
        // What the gateway reads right after loading: every route's endpoints.
        for name in loaded.config.routeOrder {
            _ = loaded.config.routes[name]?.endpoints.map(\.upstreamKey)
        }
        _ = loaded.warnings.joined()
    } catch {
        _ = error.description
    }
    return 0
}
