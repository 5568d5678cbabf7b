/// The two Lua scripts behind limits and budgets. Both run atomically in Redis and read
/// Redis's clock (`TIME`), so every responder on every host agrees on the windows.
///
/// **Limits are sliding windows of buckets, with reservations.** A counter
/// (`RedisKeys.limit` + `:w`) is one hash: the amounts admitted in each bucket of
/// `LimitCounter.bucketMs` (field: the bucket's number, `floor(ms / bucketMs)`), their sum
/// `total`, and `o`, the oldest bucket still held. Admission first drops the buckets that
/// left the window (subtracting them from `total`), then admits a call only if
/// `total + amount ≤ limit` for **every** counter of the call, and only then adds it to the
/// current bucket of all of them. An amount counts from its admission until its bucket has
/// been out of the window for a whole bucket: at least one window and at most one window
/// plus one bucket (a 60th of the window). So in any interval of the window's length,
/// however it is placed, the admitted amounts never add up to more than the limit: no edge
/// lets two windows' worth through (unlike fixed windows) and nothing is estimated (unlike
/// weighted counters). A counter costs at most 63 fields whatever the traffic, and a call
/// a handful of hash commands (a log of every reservation costs one entry per call).
///
/// **Tokens** are reserved up front (estimated prompt + the call's output cap) and settled
/// after the call: the bucket the call was admitted in (known from the admission's `now`)
/// and `total` move by the difference to the true usage. A bucket that already left the
/// window is not touched again.
///
/// **Budgets** (`RedisKeys.budget`, one per budget and period) keep `spent` (nano-dollars),
/// the 10-minute burn buckets (`b<n>`) and the alert marks (`alert<pct>`) in `…:h`, and the
/// worst-case costs reserved by calls in flight in `…:r`, bucketed like a limit whose window
/// is the reservation lifetime: a reservation is released when its call settles, and one
/// that is never settled (its responder died) lapses after the lifetime (plus at most a
/// 15th of it).
public enum LimitScripts {
    /// Buckets per budget-reservation lifetime.
    public static let reservationBuckets = 15

    /// `ARGV`: number of limit counters L, number of budgets B, reservation lifetime ms; then
    /// `limit, window ms, amount` per counter (its buckets are `LimitCounter.bucketMs`
    /// wide: a 60th of the window, rounded up) and `amount, enforce (0/1), want` per budget. `KEYS`: the L counter hashes, then the B budget bases.
    ///
    /// Reply when admitted: `[1, now, total₁, reset₁, …]` (each counter's total after the
    /// reservation and the ms until its oldest amount leaves). When refused:
    /// `[0, now, 1, counter index, wait ms, total]` for a limit, or
    /// `[0, now, 2, budget index, spent, reserved]` for a budget. Nothing is reserved then.
    public static let admit = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local nl, nb, life = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local function int(x) return string.format('%d', x) end
        -- Reads h (n buckets of g ms, their sum in `field`) and drops the buckets that left
        -- the window. Returns the live total, the oldest live bucket (nil if none), the
        -- current bucket and what it holds. Writes only when a bucket left (once per bucket).
        local function trim(h, n, g, field)
          local cur = math.floor(now / g)
          local first = cur - n
          local v = redis.call('HMGET', h, field, 'o', tostring(cur))
          local total, o, here = tonumber(v[1]) or 0, tonumber(v[2]), tonumber(v[3]) or 0
          if o == nil or o >= first then return total, o, cur, here end
          if first - o > n then
            redis.call('DEL', h)
            return 0, nil, cur, 0
          end
          local old = {}
          for b = o, first - 1 do old[#old + 1] = b end
          for _, a in ipairs(redis.call('HMGET', h, unpack(old))) do total = total - (tonumber(a) or 0) end
          redis.call('HDEL', h, unpack(old))
          local live = {}
          for b = first, cur do live[#live + 1] = b end
          o = nil
          for j, a in ipairs(redis.call('HMGET', h, unpack(live))) do
            if a then o = first + j - 1 break end
          end
          if o == nil then
            redis.call('DEL', h)
            return 0, nil, cur, 0
          end
          redis.call('HSET', h, field, int(total), 'o', o)
          return total, o, cur, here
        end
        local st = {}
        for i = 1, nl do
          local p = 3 + (i - 1) * 3
          local limit, win, want = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
          local g = math.max(1, math.ceil(win / 60))
          local n = math.ceil(win / g)
          local total, oldest, cur, here = trim(KEYS[i], n, g, 'total')
          if total + want > limit then
            local wait = win
            if want <= limit and oldest then
              local need, freed, live = total + want - limit, 0, {}
              for b = oldest, cur do live[#live + 1] = b end
              for j, a in ipairs(redis.call('HMGET', KEYS[i], unpack(live))) do
                freed = freed + (tonumber(a) or 0)
                if freed >= need then
                  wait = (oldest + j + n) * g - now
                  break
                end
              end
            end
            return {0, now, 1, i, math.max(wait, 1), total}
          end
          st[i] = {want, g, n, oldest, cur, here, total}
        end
        local bo = 3 + nl * 3
        local bg = math.max(1, math.ceil(life / 15))
        local bs = {}
        for k = 1, nb do
          local base = KEYS[nl + k]
          local p = bo + (k - 1) * 3
          local amount, enforce, want = tonumber(ARGV[p + 1]), ARGV[p + 2] == '1', tonumber(ARGV[p + 3])
          local reserved, oldest, cur, here = trim(base .. ':r', 15, bg, 'reserved')
          if enforce then
            local spent = tonumber(redis.call('HGET', base .. ':h', 'spent') or '0')
            if spent >= amount or spent + reserved + want > amount then
              return {0, now, 2, k, spent, reserved}
            end
          end
          bs[k] = {want, oldest, cur, here, reserved}
        end
        local out = {1, now}
        for i = 1, nl do
          local want, g, n, oldest, cur, here, total = unpack(st[i])
          if oldest then
            redis.call('HSET', KEYS[i], tostring(cur), int(here + want), 'total', int(total + want))
          else
            oldest = cur
            redis.call('HSET', KEYS[i], tostring(cur), int(here + want), 'total', int(total + want), 'o', tostring(cur))
          end
          if here == 0 then redis.call('PEXPIRE', KEYS[i], tostring((n + 2) * g + 60000)) end
          out[#out + 1] = total + want
          out[#out + 1] = (oldest + n + 1) * g - now
        end
        for k = 1, nb do
          local want, oldest, cur, here, reserved = unpack(bs[k])
          if want > 0 then
            local r = KEYS[nl + k] .. ':r'
            if oldest then
              redis.call('HSET', r, tostring(cur), int(here + want), 'reserved', int(reserved + want))
            else
              redis.call('HSET', r, tostring(cur), int(here + want), 'reserved', int(reserved + want), 'o', tostring(cur))
            end
            if here == 0 then redis.call('PEXPIRE', r, tostring(17 * bg + 60000)) end
          end
        end
        return out
        """)

    /// Settles many calls at once. `ARGV`: T, B; then per token adjustment `key index,
    /// bucket, delta` (`delta` = true usage − reserved, summed per counter and bucket); then
    /// per budget `key index, amount, thresholds (comma-separated percentages), expire-at ms,
    /// description (name|scope|value|period start ms|period end ms), R, C`, followed by R
    /// pairs `bucket, reserved amount` to release and C pairs `cost, call` in the order the
    /// calls finished. `KEYS`: the counter hashes and budget bases the indexes name, then the
    /// budget index set (last).
    ///
    /// Reply: `[budget number, threshold, spent, call, …]` for each threshold crossed now for
    /// the first time in the period, naming the call whose cost crossed it.
    public static let settle = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local nt, nb = tonumber(ARGV[1]), tonumber(ARGV[2])
        local function int(x) return string.format('%d', x) end
        -- Moves bucket b of h and its sum `field` by d, unless the bucket already left.
        local function adjust(h, b, d, field)
          if d == 0 then return end
          local v = redis.call('HMGET', h, 'o', b, field)
          local o = tonumber(v[1])
          if o and tonumber(b) >= o and v[2] then
            redis.call('HSET', h, b, int(tonumber(v[2]) + d), field, int((tonumber(v[3]) or 0) + d))
          end
        end
        local p = 2
        for j = 1, nt do
          adjust(KEYS[tonumber(ARGV[p + 1])], ARGV[p + 2], tonumber(ARGV[p + 3]), 'total')
          p = p + 3
        end
        local out = {}
        local burn = 'b' .. math.floor(now / 600000)
        for k = 1, nb do
          local base = KEYS[tonumber(ARGV[p + 1])]
          local amount, thresholds, expireAt, about = tonumber(ARGV[p + 2]), ARGV[p + 3], ARGV[p + 4], ARGV[p + 5]
          local nr, nc = tonumber(ARGV[p + 6]), tonumber(ARGV[p + 7])
          p = p + 7
          for j = 1, nr do
            adjust(base .. ':r', ARGV[p + 1], -tonumber(ARGV[p + 2]), 'reserved')
            p = p + 2
          end
          local h = base .. ':h'
          local fields = {'spent', 'about'}
          local pcts = {}
          for pct in string.gmatch(thresholds, '%d+') do
            pcts[#pcts + 1] = tonumber(pct)
            fields[#fields + 1] = 'alert' .. pct
          end
          local v = redis.call('HMGET', h, unpack(fields))
          local spent = tonumber(v[1]) or 0
          local added = 0
          for j = 1, nc do
            local cost, call = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
            p = p + 2
            if cost > 0 then
              added = added + cost
              for x, pct in ipairs(pcts) do
                if not v[2 + x] and amount > 0 and (spent + added) * 100 >= amount * pct then
                  v[2 + x] = int(now)
                  redis.call('HSET', h, fields[2 + x], v[2 + x])
                  out[#out + 1] = k
                  out[#out + 1] = pct
                  out[#out + 1] = spent + added
                  out[#out + 1] = call
                end
              end
            end
          end
          if added > 0 then
            redis.call('HINCRBY', h, 'spent', int(added))
            redis.call('HINCRBY', h, burn, int(added))
          end
          if v[2] ~= about then
            redis.call('HSET', h, 'amount', int(amount), 'about', about)
            redis.call('PEXPIREAT', h, expireAt)
            redis.call('SADD', KEYS[#KEYS], base)
          end
        end
        return out
        """)
}
