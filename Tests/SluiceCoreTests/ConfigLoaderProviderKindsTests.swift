import SluiceCore
import XCTest

/// `kind: bedrock`, `azure_openai` and `databricks`: defaults, secrets, and errors that
/// name the line and the field.
final class ConfigLoaderProviderKindsTests: XCTestCase {
    private func summary(_ error: ConfigError) -> [String] {
        error.issues.map { "\($0.line) \($0.field): \($0.message)" }
    }

    private func config(_ providers: String, model: String = "m") -> String {
        """
        redis: { url: "redis://localhost" }
        providers:
        \(providers)
        routes:
          chat: { endpoints: [ { provider: p, model: \(model) } ] }
        """
    }

    func testBedrockWithAccessKeysDefaultsItsURLFromTheRegion() throws {
        let secrets = FakeSecrets(environment: ["AWS_AK": "AKIAEXAMPLE", "AWS_SK": "secret/key+1", "AWS_ST": "token=="])
        let loaded = try XCTUnwrap(loadConfig(config("""
              p:
                kind: bedrock
                region: eu-central-1
                access_key_id: "${env:AWS_AK}"
                secret_access_key: "${env:AWS_SK}"
                session_token: "${env:AWS_ST}"
            """), secrets: secrets))
        let provider = try XCTUnwrap(loaded.config.providers["p"])
        XCTAssertEqual(provider.kind, .bedrock)
        XCTAssertEqual(provider.region, "eu-central-1")
        XCTAssertEqual(provider.baseURL, "https://bedrock-runtime.eu-central-1.amazonaws.com")
        XCTAssertEqual(provider.awsCredentials?.accessKeyID.exposedValue, "AKIAEXAMPLE")
        XCTAssertEqual(provider.awsCredentials?.secretAccessKey.exposedValue, "secret/key+1")
        XCTAssertEqual(provider.awsCredentials?.sessionToken?.origin, "env:AWS_ST")
        XCTAssertNil(provider.apiKey)
    }

    func testBedrockBaseURLOverrideAndAPIKey() throws {
        let loaded = try XCTUnwrap(loadConfig(config("""
              p: { kind: bedrock, region: us-east-1, base_url: "http://127.0.0.1:9100/", api_key: "ABSK-key" }
            """)))
        let provider = try XCTUnwrap(loaded.config.providers["p"])
        XCTAssertEqual(provider.baseURL, "http://127.0.0.1:9100")
        XCTAssertNil(provider.awsCredentials)
        XCTAssertEqual(provider.apiKey?.exposedValue, "ABSK-key")
        XCTAssertEqual(provider.authHeader, "Authorization")
        XCTAssertEqual(provider.authPrefix, "Bearer ")
    }

    func testAzureOpenAIUsesTheApiKeyHeader() throws {
        let loaded = try XCTUnwrap(loadConfig(config("""
              p: { kind: azure_openai, base_url: "https://contoso.openai.azure.com", api_version: "2024-10-21", api_key: "az-key" }
            """, model: "gpt-4o-deployment")))
        let provider = try XCTUnwrap(loaded.config.providers["p"])
        XCTAssertEqual(provider.kind, .azureOpenAI)
        XCTAssertEqual(provider.apiVersion, "2024-10-21")
        XCTAssertEqual(provider.authHeader, "api-key")
        XCTAssertEqual(provider.authPrefix, "")
        XCTAssertNotNil(loadConfig(config("""
              p: { kind: azure_openai, base_url: "https://c.openai.azure.com", api_version: "2025-04-01-preview", api_key: "k" }
            """)))
    }

    func testDatabricksUsesBearer() throws {
        let loaded = try XCTUnwrap(loadConfig(config("""
              p: { kind: databricks, base_url: "https://adb-1.2.azuredatabricks.net", api_key: "dapi123" }
            """)))
        let provider = try XCTUnwrap(loaded.config.providers["p"])
        XCTAssertEqual(provider.kind, .databricks)
        XCTAssertEqual(provider.authHeader, "Authorization")
        XCTAssertEqual(provider.authPrefix, "Bearer ")
    }

    func testMistakesNameLineAndField() {
        let error = configIssues("""
            redis: { url: "redis://localhost" }
            providers:
              b1: { kind: bedrock, access_key_id: "AK", secret_access_key: "SK" }
              b2: { kind: bedrock, region: "US East", access_key_id: "AK" }
              b3: { kind: bedrock, region: us-east-1 }
              b4: { kind: bedrock, region: us-east-1, api_key: "k", access_key_id: "AK", secret_access_key: "SK" }
              a1: { kind: azure_openai, base_url: "https://x.openai.azure.com", api_key: "k" }
              a2: { kind: azure_openai, base_url: "https://x.openai.azure.com", api_key: "k", api_version: "latest" }
              a3: { kind: azure_openai, api_version: "2024-10-21", region: us-east-1 }
              d1: { kind: databricks, base_url: "https://adb.example.net" }
              o1: { kind: openai, api_version: "2024-10-21" }
            routes:
              chat: { endpoints: [ { provider: b1, model: m } ] }
            """)
        XCTAssertEqual(summary(error), [
            "3 providers.b1.region: missing required field 'region' (kind bedrock signs every call for one AWS region)",
            "4 providers.b2.secret_access_key: missing required field 'secret_access_key' (AWS credentials come in pairs)",
            "4 providers.b2.region: invalid AWS region 'US East' (expected e.g. us-east-1)",
            "5 providers.b3.access_key_id: missing required field 'access_key_id' (kind bedrock needs access_key_id and secret_access_key, or a Bedrock api_key)",
            "6 providers.b4.api_key: set either api_key (a Bedrock API key) or access_key_id/secret_access_key, not both",
            "7 providers.a1.api_version: missing required field 'api_version' (Azure OpenAI needs an api-version, e.g. 2024-10-21)",
            "8 providers.a2.api_version: invalid api_version 'latest' (expected a date such as 2024-10-21 or 2025-04-01-preview)",
            "9 providers.a3.base_url: missing required field 'base_url' (kind azure_openai has no default)",
            "9 providers.a3.api_key: missing required field 'api_key' (sent as the api-key header; or set an Authorization header)",
            "9 providers.a3.region: 'region' applies only to providers of kind bedrock",
            "10 providers.d1.api_key: missing required field 'api_key' (a Databricks token, sent as Authorization: Bearer)",
            "11 providers.o1.api_version: 'api_version' applies only to providers of kind azure_openai",
        ])
    }

    func testSecretsOfAWSCredentialsNeverAppearInIssues() {
        let secrets = FakeSecrets(environment: ["SK": "line\nbreak-secret"])
        let error = configIssues(config("""
              p: { kind: bedrock, region: us-east-1, access_key_id: "AK", secret_access_key: "${env:SK}", session_token: "${env:MISSING}" }
            """), secrets: secrets)
        XCTAssertFalse(error.description.contains("break-secret"), error.description)
        XCTAssertEqual(summary(error), [
            "3 providers.p.secret_access_key: the value from env:SK contains a line break or control character",
            "3 providers.p.session_token: environment variable MISSING is not set (referenced as ${env:MISSING})",
        ])
    }
}
