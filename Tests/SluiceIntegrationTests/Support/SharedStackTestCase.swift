import XCTest

/// A test class whose tests share one gateway stack, started once for the class and
/// stopped by pid after its last test.
class SharedStackTestCase: XCTestCase {
    nonisolated(unsafe) private static var stacks: [ObjectIdentifier: GatewayStack] = [:]
    nonisolated(unsafe) private static var failures: [ObjectIdentifier: String] = [:]

    override class func setUp() {
        super.setUp()
        do {
            stacks[ObjectIdentifier(self)] = try GatewayStack(config: stackConfig)
        } catch {
            failures[ObjectIdentifier(self)] = "\(error)"
        }
    }

    /// The config this class's stack runs with; `nil` for the standard test config.
    class var stackConfig: ((GatewayStack) -> String)? { nil }

    override class func tearDown() {
        stacks.removeValue(forKey: ObjectIdentifier(self))?.stop()
        super.tearDown()
    }

    /// This class's stack; skips the test if it could not start.
    func gateway() throws -> GatewayStack {
        let id = ObjectIdentifier(type(of: self))
        guard let stack = Self.stacks[id] else {
            throw XCTSkip("the gateway stack did not start: \(Self.failures[id] ?? "unknown reason")")
        }
        return stack
    }
}
