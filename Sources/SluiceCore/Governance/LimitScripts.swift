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

    /// Admits many calls at once, in order, each exactly as if it were alone: a call is
    /// admitted only if every one of its counters has room (`total + amount ≤ limit`) and
    /// every enforced budget can cover its worst case (`spent + reserved + want ≤ amount`),
    /// counting what the calls before it in the batch reserved; then it reserves in all of
    /// them. Each hash is read (and trimmed) once per batch and written once, so a batch of
    /// calls on shared counters costs about what one call does.
    ///
    /// `ARGV`: reservation lifetime ms, number of calls N, number of counter definitions D and
    /// of budget definitions E, and 1 when no amount is negative (the batch may be admitted
    /// whole); then each counter definition `key index, limit, window ms, the batch's amount,
    /// lease asked for` (its buckets are `LimitCounter.bucketMs` wide: a 60th of the
    /// window, rounded up; the amount sums every call's on that hash, a hash named twice in
    /// one call once; the lease is 0 when none is asked for, see `Leases`) and each
    /// budget definition `key index, amount, enforce (0/1), the batch's want, lease asked
    /// for`; then per call
    /// the number of its limit counters L and budgets B, per counter `definition, amount` and
    /// per budget `definition, want`. Definitions are numbered from 1 and sent once per batch,
    /// however many calls name them (Lua per call is most of the script's cost). `KEYS`: the
    /// counter hashes and budget bases the indexes name (each once).
    ///
    /// Reply, when every counter and enforced budget has room for the whole batch: one array
    /// `[-1, now, total₁, reset₁, …]`, per counter definition its total before the batch and
    /// the ms until its oldest amount leaves (`AdmissionBatch` works out each call's totals).
    /// Otherwise one array per call. Admitted: `[1, now, total₁, reset₁, …]` (each counter's
    /// total after the reservation and the ms until its oldest amount leaves). Refused:
    /// `[0, now, 1, counter index, wait ms, total]` for a limit, or `[0, now, 2, budget index,
    /// spent, reserved]` for a budget; a refused call reserves nothing. When any lease was
    /// asked for, one more array follows with what was granted (`[-2, …]`, in the script).
    public static let admit = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local life, calls, nd, ne = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local bg = math.max(1, math.ceil(life / 15))
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
        -- A counter's state in this batch: {total, oldest, current bucket, its amount, g, n,
        -- added, amount in the current bucket before the batch}.
        local lim, bud = {}, {}
        local function counter(k, win)
          local s = lim[k]
          if s then return s end
          local g = math.max(1, math.ceil(win / 60))
          local n = math.ceil(win / g)
          local total, oldest, cur, here = trim(KEYS[k], n, g, 'total')
          s = {total, oldest, cur, here, g, n, 0, here}
          lim[k] = s
          return s
        end
        -- How long until `need` more fits in counter s: when enough of its oldest amounts left.
        local function wait(k, s, limit, want, win)
          local total, oldest, cur, here, g, n = s[1], s[2], s[3], s[4], s[5], s[6]
          if want > limit or not oldest then return win end
          local need, freed, live = total + want - limit, 0, {}
          for b = oldest, cur do live[#live + 1] = b end
          local v = redis.call('HMGET', KEYS[k], unpack(live))
          for j = 1, #live do
            local a = tonumber(v[j]) or 0
            if live[j] == cur then a = here end
            freed = freed + a
            if freed >= need then return math.max((oldest + j + n) * g - now, 1) end
          end
          return win
        end
        -- The batch's counter definitions (key index, limit, window, the whole batch's amount
        -- on its hash) and budget definitions (key index, amount, enforced, the batch's want),
        -- each sent once; calls name them by number.
        local dk, dl, dw, ds, dv, ek, ea, ee, es, ev = {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
        local p = 5
        for d = 1, nd do
          dk[d], dl[d], dw[d], ds[d], dv[d] = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5])
          p = p + 5
        end
        for e = 1, ne do
          ek[e], ea[e], ee[e], es[e], ev[e] = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), ARGV[p + 3] == '1', tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5])
          p = p + 5
        end
        local function budget(k)
          local reserved, oldest, cur, here = trim(KEYS[k] .. ':r', 15, bg, 'reserved')
          local s = {reserved, oldest, cur, here, nil, 0, 0, here}
          bud[k] = s
          return s
        end
        -- The whole batch at once: when every counter and enforced budget has room for all of
        -- its calls together, each call has room too (no amount is negative: ARGV[5] = 1), so
        -- the calls need no look one by one. The reply gives each counter definition's total
        -- before the batch and its reset; the caller works out what each call saw.
        local whole = ARGV[5] == '1'
        for d = 1, whole and nd or 0 do
          local k = dk[d]
          local s = lim[k] or counter(k, dw[d])
          if s[1] + ds[d] > dl[d] then
            whole = false
            break
          end
        end
        for e = 1, whole and ne or 0 do
          local k = ek[e]
          local s = bud[k] or budget(k)
          if ee[e] then
            if s[5] == nil then s[5] = tonumber(redis.call('HGET', KEYS[k] .. ':h', 'spent') or '0') end
            if s[5] >= ea[e] or s[5] + s[1] + es[e] > ea[e] then
              whole = false
              break
            end
          end
        end
        local out = {}
        if whole then
          local r = {-1, now}
          for d = 1, nd do
            local s, want = lim[dk[d]], ds[d]
            -- A hash under two definitions gets the batch's amount once.
            if not s[11] then
              s[11] = s[1]
              s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
              if not s[2] then s[2], s[9] = s[3], true end
            end
            r[2 * d + 1] = s[11]
            r[2 * d + 2] = (s[2] + s[6] + 1) * s[5] - now
          end
          for e = 1, ne do
            local s, want = bud[ek[e]], es[e]
            if not s[11] then
              s[11] = s[1]
              if want > 0 then
                s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
                if not s[2] then s[2], s[9] = s[3], true end
              end
            end
          end
          out[1] = r
          calls = 0
        end
        -- One call's definitions and amounts, reused by every call (no table per call).
        local cd, cw, bd, bw = {}, {}, {}, {}
        for c = 1, calls do
          local nl, nb = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
          p = p + 2
          for i = 1, nl do
            cd[i], cw[i] = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
            p = p + 2
          end
          for j = 1, nb do
            bd[j], bw[j] = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
            p = p + 2
          end
          local refused = nil
          for i = 1, nl do
            local d, want = cd[i], cw[i]
            local k = dk[d]
            local s = lim[k] or counter(k, dw[d])
            if s[1] + want > dl[d] then
              refused = {0, now, 1, i, wait(k, s, dl[d], want, dw[d]), s[1]}
              break
            end
          end
          if not refused then
            for j = 1, nb do
              local e, want = bd[j], bw[j]
              local k = ek[e]
              local s = bud[k] or budget(k)
              if ee[e] then
                if s[5] == nil then s[5] = tonumber(redis.call('HGET', KEYS[k] .. ':h', 'spent') or '0') end
                if s[5] >= ea[e] or s[5] + s[1] + want > ea[e] then
                  refused = {0, now, 2, j, s[5], s[1]}
                  break
                end
              end
            end
          end
          if refused then
            out[c] = refused
          else
            local r, n = {1, now}, 2
            for i = 1, nl do
              local s, want = lim[dk[cd[i]]], cw[i]
              -- A counter named twice in one call (two limits with the same key) counts it once.
              if s[10] ~= c then
                s[10] = c
                s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
                if not s[2] then s[2], s[9] = s[3], true end
              end
              r[n + 1] = s[1]
              r[n + 2] = (s[2] + s[6] + 1) * s[5] - now
              n = n + 2
            end
            for j = 1, nb do
              local s, want = bud[ek[bd[j]]], bw[j]
              if want > 0 then
                s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
                if not s[2] then s[2], s[9] = s[3], true end
              end
            end
            out[c] = r
          end
        end
        -- Leases asked for (after the calls, so they never take a call's room): each is
        -- granted whole, as if admitted now, only while the counter (or the budget's spent and
        -- reserved) stays within half its amount with it. Reply: one more array, `[-2, …]`,
        -- per counter definition `granted, ms until its bucket ends, total before the grant,
        -- ms until its oldest amount leaves` and per budget `granted, ms until its bucket ends`.
        local grants, asked = {-2}, false
        for d = 1, nd do
          local want, given, left, before, reset = dv[d], 0, 0, 0, 0
          if want > 0 then
            asked = true
            local k = dk[d]
            local s = lim[k] or counter(k, dw[d])
            before = s[1]
            if s[1] + want <= math.floor(dl[d] / 2) then
              s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
              if not s[2] then s[2], s[9] = s[3], true end
              given = want
            end
            left = (s[3] + 1) * s[5] - now
            reset = s[2] and (s[2] + s[6] + 1) * s[5] - now or dw[d]
          end
          local n = #grants
          grants[n + 1], grants[n + 2], grants[n + 3], grants[n + 4] = given, left, before, reset
        end
        for e = 1, ne do
          local want, given, left = ev[e], 0, 0
          if want > 0 then
            asked = true
            local k = ek[e]
            local s = bud[k] or budget(k)
            if s[5] == nil then s[5] = tonumber(redis.call('HGET', KEYS[k] .. ':h', 'spent') or '0') end
            if s[5] + s[1] + want <= math.floor(ea[e] / 2) then
              s[1], s[4], s[7] = s[1] + want, s[4] + want, s[7] + want
              if not s[2] then s[2], s[9] = s[3], true end
              given = want
            end
            left = (s[3] + 1) * bg - now
          end
          local n = #grants
          grants[n + 1], grants[n + 2] = given, left
        end
        if asked then out[#out + 1] = grants end
        -- Each hash written once: its current bucket, its sum, and `o` when it had no bucket.
        local function store(h, s, field, ttl)
          if s[7] == 0 then return end
          if s[9] then
            redis.call('HSET', h, tostring(s[3]), int(s[4]), field, int(s[1]), 'o', tostring(s[3]))
          else
            redis.call('HSET', h, tostring(s[3]), int(s[4]), field, int(s[1]))
          end
          if s[8] == 0 then redis.call('PEXPIRE', h, tostring(ttl)) end
        end
        for k, s in pairs(lim) do store(KEYS[k], s, 'total', (s[6] + 2) * s[5] + 60000) end
        for k, s in pairs(bud) do store(KEYS[k] .. ':r', s, 'reserved', 17 * bg + 60000) end
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
