import Glibc

/// The field names of one usage group (`<dimension>=<group>|<total>`, `AuditBatch.usageField`)
/// for each total, made once per group and kept by each thread (`Table`): a call's
/// record counts in seven or so groups of five or so totals, and the same routes, keys, models
/// and tags come back call after call.
struct UsageFieldNames: Sendable {
    let requests, responseCacheLookups, responseCacheHits, promptTokens, completionTokens, cacheReadTokens,
        cacheWriteTokens, reasoningTokens, costMicros, errors: String

    init(dimension: String, group: String) {
        let stem = AuditBatch.usageField(dimension: dimension, group: group, total: "")
        requests = stem + "requests"
        responseCacheLookups = stem + "response_cache_lookups"
        responseCacheHits = stem + "response_cache_hits"
        promptTokens = stem + "prompt_tokens"
        completionTokens = stem + "completion_tokens"
        cacheReadTokens = stem + "cache_read_tokens"
        cacheWriteTokens = stem + "cache_write_tokens"
        reasoningTokens = stem + "reasoning_tokens"
        costMicros = stem + "cost_micros"
        errors = stem + "errors"
    }

    private struct Group: Hashable {
        let dimension: String
        let group: String
    }

    /// One thread's groups seen lately; emptied when it reaches `limit` (many keys or tag
    /// values): about 1 KB a group, so at most ~300 KB a thread. Per thread, as every call
    /// asks several times: a shared table's lock was contended at once (c=64: half the pool's
    /// CPU spinning in `Mutex`).
    private final class Table {
        var names: [Group: UsageFieldNames] = [:]
    }

    static let limit = 256

    /// The key of each thread's table; nil if the system has no key left (names are then
    /// made for every call, as they were before the tables).
    nonisolated(unsafe) private static let threadKey: pthread_key_t? = {
        var key = pthread_key_t()
        let made = pthread_key_create(&key) { table in
            if let table { Unmanaged<Table>.fromOpaque(table).release() }
        }
        return made == 0 ? key : nil
    }()

    private static var table: Table? {
        guard let threadKey else { return nil }
        if let table = pthread_getspecific(threadKey) { return Unmanaged<Table>.fromOpaque(table).takeUnretainedValue() }
        let table = Table()
        let retained = Unmanaged.passRetained(table)
        guard pthread_setspecific(threadKey, retained.toOpaque()) == 0 else {
            retained.release()
            return nil
        }
        return table
    }

    static func of(dimension: String, group: String) -> UsageFieldNames {
        guard let table else { return UsageFieldNames(dimension: dimension, group: group) }
        let wanted = Group(dimension: dimension, group: group)
        if let names = table.names[wanted] { return names }
        let names = UsageFieldNames(dimension: dimension, group: group)
        if table.names.count >= limit { table.names.removeAll() }
        table.names[wanted] = names
        return names
    }
}
