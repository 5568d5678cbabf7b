/// The Lua script that appends audit records, atomically in Redis.
///
/// Each stream entry has the fields `rid` (request id), `kind` (`call` or `alert`),
/// `record` (the record as JSON text), `prev` (the hash of the entry before it) and `hash`
/// = SHA-1 hex of `prev + "\n" + record` (`redis.sha1hex`, or the writer's own: `appendBatch`).
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

    /// The first argument of every `appendBatch` call, which tells its spool lines from
    /// `append` ones (whose first argument is a number).
    public static let batchMarker = "batch1"

    /// Appends a batch of one writer's records, numbered `first…first+n-1`, and adds their
    /// usage totals, in one atomic step. `KEYS`: stream, head, writers, then the usage
    /// hashes. `ARGV`: `batchMarker`, max length (approximate), writer, first sequence
    /// number, record count n, usage TTL seconds; then per record `request id, kind, record
    /// JSON`; then per usage hash (in `KEYS` order) the number of fields f and f pairs
    /// `field, amount` (already summed over the batch). A batch whose numbers the writer
    /// already has is skipped whole, so a replayed batch is never applied twice (a batch is
    /// only ever sent whole). Each entry chains to the one before it exactly as `append`
    /// does. Reply: the last entry id, or 0 when the batch was a duplicate.
    ///
    /// **The chain worked out by the writer** (optional, after the usage sections): the head
    /// the writer believes the stream has, then either nothing or the batch's n hashes as
    /// chained from that head (`AuditBatch.chain(after:)`). When that head is the stream's,
    /// the script stores the writer's hashes instead of hashing each record itself (SHA-1 over
    /// every record was a third of the script's time); otherwise it hashes as above. Either
    /// way the entries are the same. With this section the reply is `[last entry id, the
    /// stream's head after the batch]` (still 0 for a duplicate), so the writer can chain
    /// its next batch.
    public static let appendBatch = RedisScript("""
        local maxlen, writer = ARGV[2], ARGV[3]
        local first, n, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local last = tonumber(redis.call('HGET', KEYS[3], writer)) or 0
        if first + n - 1 <= last then return 0 end
        local prev = redis.call('GET', KEYS[2]) or ''
        -- The usage sections end at q; a chain section may follow.
        local q = 6 + 3 * n
        for k = 4, #KEYS do q = q + 1 + 2 * tonumber(ARGV[q + 1]) end
        local chained = #ARGV > q
        local given = chained and #ARGV == q + 1 + n and ARGV[q + 1] == prev
        local id = 0
        local p = 6
        for i = 1, n do
          local record = ARGV[p + 3]
          local hash
          if given then hash = ARGV[q + 1 + i] else hash = redis.sha1hex(prev .. '\\n' .. record) end
          id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
                          'rid', ARGV[p + 1], 'kind', ARGV[p + 2], 'record', record, 'prev', prev, 'hash', hash)
          prev = hash
          p = p + 3
        end
        redis.call('SET', KEYS[2], prev)
        redis.call('HSET', KEYS[3], writer, first + n - 1)
        for k = 4, #KEYS do
          local f = tonumber(ARGV[p + 1])
          local fields, amounts = {}, {}
          for j = 1, f do
            fields[j] = ARGV[p + 2 * j]
            amounts[j] = tonumber(ARGV[p + 2 * j + 1])
          end
          p = p + 1 + 2 * f
          -- In chunks: Lua's unpack takes at most ~8000 values, and a day's one hash may get
          -- more fields than that from a large batch.
          for c = 1, f, 1000 do
            local last = math.min(c + 999, f)
            local values = redis.call('HMGET', KEYS[k], unpack(fields, c, last))
            local set = {}
            for j = c, last do
              set[#set + 1] = fields[j]
              set[#set + 1] = string.format('%d', (tonumber(values[j - c + 1]) or 0) + amounts[j])
            end
            redis.call('HSET', KEYS[k], unpack(set))
          end
          redis.call('EXPIRE', KEYS[k], ttl)
        end
        if chained then return {id, prev} end
        return id
        """)
}
