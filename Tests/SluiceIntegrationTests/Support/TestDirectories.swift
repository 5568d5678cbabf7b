import Foundation
import XCTest

/// The folders the integration tests' stacks made (`sluice-it-*`: logs, Redis files, the
/// spool; ~2 MB each, ~60 a run), removed when the test run ends without a failure, so a
/// developer's `/tmp` does not fill up. Kept when a test failed, for its logs, or when
/// `SLUICE_KEEP_TEST_DIRS` is set. Removed at the end of the run rather than in
/// `GatewayStack.stop`, as tests read a stopped stack's logs.
final class TestDirectories: NSObject, XCTestObservation, @unchecked Sendable {
    static let shared: TestDirectories = {
        let directories = TestDirectories()
        XCTestObservationCenter.shared.addTestObserver(directories)
        return directories
    }()

    private let lock = NSLock()
    private var made: [URL] = []
    private var failed = false

    /// Adds `directory` to those removed at the end of a run that had no failure.
    func add(_ directory: URL) {
        lock.lock()
        made.append(directory)
        lock.unlock()
    }

    func testCase(_ testCase: XCTestCase, didFailWithDescription description: String, inFile filePath: String?,
                  atLine lineNumber: Int) {
        lock.lock()
        failed = true
        lock.unlock()
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        lock.lock()
        let remove = failed || ProcessInfo.processInfo.environment["SLUICE_KEEP_TEST_DIRS"] != nil ? [] : made
        made = []
        lock.unlock()
        for directory in remove { try? FileManager.default.removeItem(at: directory) }
    }
}
