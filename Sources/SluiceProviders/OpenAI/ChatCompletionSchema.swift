import SluiceCore

/// OpenAI's published schema for a `chat.completion` (openai-openapi,
/// `CreateChatCompletionResponse`): each choice requires `index`, `message`,
/// `finish_reason` and `logprobs` (nullable); each message requires `role`, `content` and
/// `refusal` (both nullable). Servers that speak OpenAI's API loosely (Databricks, older
/// Azure api-versions) leave `refusal` and `logprobs` out, and SDK code that reads them
/// breaks; the gateway adds them as `null`.
enum ChatCompletionSchema {
    /// `body` with the missing required members added, or `nil` when nothing is missing
    /// (the provider's bytes then pass unchanged) or the body is not a chat completion.
    static func completingRequiredMembers(_ body: [UInt8]) -> [UInt8]? {
        guard var completion = JSONValue.parseObject(body), case .array(var choices)? = completion["choices"] else {
            return nil
        }
        var changed = false
        for index in choices.indices {
            guard case .object(var choice) = choices[index] else { continue }
            if choice["logprobs"] == nil { choice["logprobs"] = .null; changed = true }
            if choice["finish_reason"] == nil { choice["finish_reason"] = .null; changed = true }
            if case .object(var message)? = choice["message"] {
                if message["refusal"] == nil { message["refusal"] = .null; changed = true }
                if message["content"] == nil { message["content"] = .null; changed = true }
                choice["message"] = .object(message)
            }
            choices[index] = .object(choice)
        }
        guard changed else { return nil }
        completion["choices"] = .array(choices)
        return completion.bytes
    }
}
