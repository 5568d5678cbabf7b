/// The Lua script that appends audit records, atomically in Redis.
///
/// Each stream entry has the fields `rid` (request id), `kind` (`call` or `alert`),
/// `record` (the record as JSON text), `prev` (the hash of the entry before it) and `hash`
/// = SHA-1 hex of `prev + "\n" + record` (`redis.sha1hex`, the digest Redis scripts offer).
/// Because every entry names its predecessor's hash, deleting or altering an entry breaks
/// the chain at that point: `sluice audit verify` recomputes it.
///
/// Appends are idempotent per writer: every responder thread is a writer (`host:pid:thread`)
/// that numbers its records 1, 2, 3…; a record whose number is not above the writer's last
/// appended one is skipped. So a record replayed from the local spool after Redis came back
/// is never added twice, even if its first attempt was applied before a timeout.
public enum AuditScripts {
    /// `KEYS`: stream, head, writers, then any usage hashes. `ARGV`: max length (approximate),
    /// writer, sequence, request id, kind, record JSON; with usage hashes also prompt tokens,
    /// completion tokens, cost in micro-units, usage TTL seconds, then one group name per usage
    /// hash. Each usage hash gets `<group>|requests`, `|prompt_tokens`, `|completion_tokens`
    /// and `|cost_micros` added — in the same atomic step as the record, so the usage report
    /// and the audit stream always agree, replays included.
    /// Reply: the entry id, or 0 when it was a duplicate.
    public static let append = RedisScript("""
        local seq = tonumber(ARGV[3])
        local last = tonumber(redis.call('HGET', KEYS[3], ARGV[2])) or 0
        if seq <= last then return 0 end
        local prev = redis.call('GET', KEYS[2]) or ''
        local hash = redis.sha1hex(prev .. '\\n' .. ARGV[6])
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                              'rid', ARGV[4], 'kind', ARGV[5], 'record', ARGV[6], 'prev', prev, 'hash', hash)
        redis.call('SET', KEYS[2], hash)
        redis.call('HSET', KEYS[3], ARGV[2], seq)
        if #KEYS > 3 then
          local prompt, completion, cost = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
          for i = 4, #KEYS do
            local group = ARGV[7 + i]
            redis.call('HINCRBY', KEYS[i], group .. '|requests', 1)
            if prompt > 0 then redis.call('HINCRBY', KEYS[i], group .. '|prompt_tokens', prompt) end
            if completion > 0 then redis.call('HINCRBY', KEYS[i], group .. '|completion_tokens', completion) end
            if cost > 0 then redis.call('HINCRBY', KEYS[i], group .. '|cost_micros', cost) end
            redis.call('EXPIRE', KEYS[i], tonumber(ARGV[10]))
          end
        end
        return id
        """)
}
