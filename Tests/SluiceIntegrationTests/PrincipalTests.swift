import Foundation
import XCTest

/// An identity asserted by nginx (basic auth here, as in nginx/examples/basic-auth.conf)
/// reaches the responder as SLUICE_PRINCIPAL and gets its `principals:` policy.
final class PrincipalTests: XCTestCase {
    private var stack: GatewayStack!
    private var nginx: ManagedProcess?
    private var port = 0

    override func setUpWithError() throws {
        stack = try GatewayStack()
        guard let openssl = which("openssl") else { throw XCTSkip("openssl is needed to make an htpasswd file") }
        let directory = stack.directory.appendingPathComponent("nginx-basic")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let hash = try runCommand(openssl, ["passwd", "-apr1", "s3cret"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        try "alice:\(hash)\n".write(to: directory.appendingPathComponent("htpasswd"), atomically: true, encoding: .utf8)
        port = freeLoopbackPort()
        let nginxDirectory = GatewayStack.repository.path + "/nginx"
        let config = """
            worker_processes 1;
            pid \(directory.path)/nginx.pid;
            error_log \(directory.path)/error.log notice;
            events { worker_connections 64; }
            http {
                client_body_temp_path \(directory.path)/body; proxy_temp_path \(directory.path)/proxy;
                fastcgi_temp_path \(directory.path)/fastcgi; uwsgi_temp_path \(directory.path)/uwsgi; scgi_temp_path \(directory.path)/scgi;
                access_log off;
                include \(nginxDirectory)/sluice-http.conf;
                upstream sluice_pool { server unix:\(stack.socketPath); }
                server {
                    listen 127.0.0.1:\(port);
                    auth_basic "Sluice";
                    auth_basic_user_file \(directory.path)/htpasswd;
                    set $sluice_principal $remote_user;
                    include \(nginxDirectory)/sluice-locations.conf;
                }
            }
            """
        let path = directory.appendingPathComponent("nginx.conf").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        nginx = try ManagedProcess(name: "nginx-basic", executable: which("nginx")!,
                                   arguments: ["-p", directory.path, "-c", path, "-e", directory.path + "/error.log", "-g", "daemon off;"],
                                   logDirectory: directory)
        let client = TestClient(baseURL: "http://127.0.0.1:\(port)")
        try waitUntil("nginx with basic auth answers", timeout: .seconds(10)) {
            client.send(.get, "/sluice/healthz").status != 0
        }
    }

    override func tearDown() {
        nginx?.stop(signal: SIGQUIT)
        stack?.stop()
        super.tearDown()
    }

    func testBasicAuthUserIsThePrincipalAndGetsItsPolicy() throws {
        let client = TestClient(baseURL: "http://127.0.0.1:\(port)")
        let alice = "Basic " + Data("alice:s3cret".utf8).base64EncodedString()
        let chat = #"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#
        let allowed = client.send(.post, "/v1/chat/completions", headers: [("Authorization", alice)], body: chat)
        XCTAssertEqual(allowed.status, 200, allowed.text)

        // The "*" policy in the test config allows only `chat`.
        let denied = client.send(.post, "/v1/chat/completions", headers: [("Authorization", alice)],
                                 body: #"{"model":"slow","messages":[{"role":"user","content":"hi"}]}"#)
        XCTAssertEqual(denied.status, 403, denied.text)

        let wrongPassword = "Basic " + Data("alice:guess".utf8).base64EncodedString()
        let refused = client.send(.post, "/v1/chat/completions", headers: [("Authorization", wrongPassword)], body: chat)
        XCTAssertEqual(refused.status, 401)
        XCTAssertNotNil(refused.errorType, "nginx's own 401 is OpenAI-shaped too")
    }
}
