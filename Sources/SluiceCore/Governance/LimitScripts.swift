/// The two Lua scripts behind limits and budgets. Both run atomically in Redis and read
/// Redis's clock (`TIME`), so every responder on every host agrees on the windows.
///
/// **Limits are sliding logs with reservations.** A counter (`RedisKeys.limit`) is a sorted
/// set `…:z` of reservation ids scored by admission time (ms) and a hash `…:h` holding each
/// reservation's amount and their sum `total`. Admission first drops the reservations older
/// than the window (subtracting them from `total`), then admits a call only if
/// `total + amount ≤ limit` for **every** counter of the call, and only then reserves on all
/// of them. So in any window of the limit's length, however the window is placed, the
/// admitted amounts never add up to more than the limit: there is no edge at which two
/// windows' worth can pass (unlike fixed windows), and no estimate (unlike weighted
/// counters). A request counts for exactly one window after its admission.
///
/// **Tokens** are reserved up front (estimated prompt + the call's output cap) and settled
/// after the call: the reservation's amount becomes the true usage and `total` moves by the
/// difference. A reservation that already left the window is not counted again.
///
/// **Budgets** (`RedisKeys.budget`, one per budget and period) hold `spent` and
/// `reserved` (nano-dollars): a call's worst-case cost is reserved at admission and replaced
/// by its true cost at settlement. Reservations that are never settled (a responder died)
/// lapse after their lifetime. Spend is also added to 10-minute buckets (`b<n>`) for the
/// burn rate, and each alert threshold is marked once per period (`alert<pct>`).
public enum LimitScripts {
    /// `ARGV`: reservation id, number of limit counters L, number of budgets B, reservation
    /// lifetime ms; then `limit, window ms, amount` per counter and `amount, enforce (0/1),
    /// want, expire-at ms` per budget. `KEYS`: the L counters, then the B budgets.
    ///
    /// Reply when admitted: `[1, now, total₁, oldest₁, …]` (each counter's total after the
    /// reservation and the admission time of its oldest reservation). When refused:
    /// `[0, now, 1, counter index, wait ms, total]` for a limit, or
    /// `[0, now, 2, budget index, spent, reserved]` for a budget. Nothing is reserved then.
    public static let admit = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local id = ARGV[1]
        local nl, nb, life = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local function trim(z, h, upto, field)
          while true do
            local old = redis.call('ZRANGEBYSCORE', z, '-inf', upto, 'LIMIT', 0, 500)
            if #old == 0 then return end
            local amounts = redis.call('HMGET', h, unpack(old))
            local freed = 0
            for _, a in ipairs(amounts) do freed = freed + (tonumber(a) or 0) end
            redis.call('HDEL', h, unpack(old))
            redis.call('ZREM', z, unpack(old))
            redis.call('HINCRBY', h, field, -freed)
            if #old < 500 then return end
          end
        end
        local totals = {}
        for i = 1, nl do
          local z, h = KEYS[i] .. ':z', KEYS[i] .. ':h'
          local o = 4 + (i - 1) * 3
          local limit, win, want = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
          trim(z, h, now - win, 'total')
          local total = tonumber(redis.call('HGET', h, 'total') or '0')
          if total + want > limit then
            local wait = win
            if want <= limit then
              local need, freed = total + want - limit, 0
              local entries = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
              for j = 1, #entries, 2 do
                freed = freed + (tonumber(redis.call('HGET', h, entries[j])) or 0)
                if freed >= need then
                  wait = tonumber(entries[j + 1]) + win - now
                  break
                end
              end
            end
            return {0, now, 1, i, math.max(wait, 1), total}
          end
          totals[i] = total
        end
        local bo = 4 + nl * 3
        for k = 1, nb do
          local z, h = KEYS[nl + k] .. ':z', KEYS[nl + k] .. ':h'
          local o = bo + (k - 1) * 4
          local amount, enforce, want = tonumber(ARGV[o + 1]), ARGV[o + 2] == '1', tonumber(ARGV[o + 3])
          trim(z, h, now, 'reserved')
          local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
          local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
          if enforce and (spent >= amount or spent + reserved + want > amount) then
            return {0, now, 2, k, spent, reserved}
          end
        end
        local out = {1, now}
        for i = 1, nl do
          local z, h = KEYS[i] .. ':z', KEYS[i] .. ':h'
          local o = 4 + (i - 1) * 3
          local win, want = tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3])
          redis.call('ZADD', z, now, id)
          redis.call('HSET', h, id, want)
          local total = redis.call('HINCRBY', h, 'total', want)
          redis.call('PEXPIRE', z, win + 60000)
          redis.call('PEXPIRE', h, win + 60000)
          local oldest = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
          out[#out + 1] = total
          out[#out + 1] = tonumber(oldest[2]) or now
        end
        for k = 1, nb do
          local z, h = KEYS[nl + k] .. ':z', KEYS[nl + k] .. ':h'
          local o = bo + (k - 1) * 4
          local want, expireAt = tonumber(ARGV[o + 3]), tonumber(ARGV[o + 4])
          redis.call('ZADD', z, now + life, id)
          redis.call('HSET', h, id, want)
          redis.call('HINCRBY', h, 'reserved', want)
          redis.call('PEXPIREAT', z, expireAt)
          redis.call('PEXPIREAT', h, expireAt)
        end
        return out
        """)

    /// `ARGV`: reservation id, L, B; then the true amount per counter, and per budget its
    /// true cost, amount, thresholds (comma-separated percentages), expire-at ms and a
    /// description (`name|scope|value|period start ms|period end ms`). `KEYS`: the L
    /// counters, the B budgets, then the budget index.
    ///
    /// Reply: `[budget index, threshold, spent, …]` for each threshold crossed now for the
    /// first time in the period.
    public static let settle = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local id = ARGV[1]
        local nl, nb = tonumber(ARGV[2]), tonumber(ARGV[3])
        for i = 1, nl do
          local h = KEYS[i] .. ':h'
          local actual = tonumber(ARGV[3 + i])
          local reserved = redis.call('HGET', h, id)
          if reserved then
            redis.call('HSET', h, id, actual)
            redis.call('HINCRBY', h, 'total', actual - tonumber(reserved))
          end
        end
        local out = {}
        local bo = 3 + nl
        for k = 1, nb do
          local base = KEYS[nl + k]
          local z, h = base .. ':z', base .. ':h'
          local o = bo + (k - 1) * 5
          local cost, amount, expireAt = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 4])
          local reserved = redis.call('HGET', h, id)
          if reserved then
            redis.call('HDEL', h, id)
            redis.call('ZREM', z, id)
            redis.call('HINCRBY', h, 'reserved', -tonumber(reserved))
          end
          local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
          if cost > 0 then
            spent = redis.call('HINCRBY', h, 'spent', cost)
            redis.call('HINCRBY', h, 'b' .. math.floor(now / 600000), cost)
          end
          redis.call('HSET', h, 'amount', amount, 'about', ARGV[o + 5])
          redis.call('PEXPIREAT', h, expireAt)
          redis.call('SADD', KEYS[nl + nb + 1], base)
          for pct in string.gmatch(ARGV[o + 3], '%d+') do
            if amount > 0 and spent * 100 >= amount * tonumber(pct) then
              if redis.call('HSETNX', h, 'alert' .. pct, now) == 1 then
                out[#out + 1] = k
                out[#out + 1] = tonumber(pct)
                out[#out + 1] = spent
              end
            end
          end
        end
        return out
        """)
}
