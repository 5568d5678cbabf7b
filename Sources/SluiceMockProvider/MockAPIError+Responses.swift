/// The Responses API's own errors, in OpenAI's shape.
extension MockAPIError {
    /// `GET`, `DELETE`, `cancel` or `input_items` of a response that does not exist (or
    /// belongs to another API key): 404.
    static func responseNotFound(_ id: String) -> MockAPIError {
        MockAPIError(status: 404, type: "invalid_request_error", code: nil, param: nil,
                     message: "Response with id '\(id)' not found.")
    }

    /// A `previous_response_id` that names no stored response of this API key: 400.
    static func previousResponseNotFound(_ id: String) -> MockAPIError {
        invalidRequest("Previous response with id '\(id)' not found.", param: "previous_response_id",
                       code: "previous_response_not_found")
    }

    /// `cancel` of a response not created with `background: true`: 400.
    static let cannotCancelSynchronous = invalidRequest("Cannot cancel a synchronous response.", param: nil)

    /// `text.format` `json_object` without the word "json" in the input: 400.
    static let jsonObjectNeedsJSON = invalidRequest(
        "Response input messages must contain the word 'json' in some form to use 'text.format' of type "
            + "'json_object'.", param: "input")
}
