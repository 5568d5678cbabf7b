/// The Lua scripts behind shared endpoint health. Every one runs atomically in Redis and
/// reads Redis's clock (`TIME`), never a responder's, so every process and host agrees.
///
/// One hash per upstream (`RedisKeys.endpointHealth`) holds:
/// - `until`: end of the current cooldown (ms); 0 or absent when the endpoint is closed.
/// - `probe_until`, `probe_owner`: the half-open probe lease and the token of the one
///   responder holding it once the cooldown is over.
/// - `strikes`, `tripped_at`, `trips`: how often it tripped, for the growing cooldown.
/// - `w_idx`, `w_ok`, `w_fail`, `p_ok`, `p_fail`: outcomes in the current and previous window.
/// - `last_ok`, `last_latency`, `last_fail`, `last_error`, `last_traffic`, `last_ping`: warmth
///   and the most recent failure.
/// - `lat_ewma`: successful calls' latency (a stream's time to its first event), moving
///   average weighting each call 1/5, in tenths of a millisecond, for `balance: latency`.
///
/// The failure ratio uses a sliding window: the previous window's counts are weighted by how
/// much of it still overlaps the last `window` ms. So an endpoint never looks healthy just
/// because a window boundary passed, and old failures fade out smoothly.
public enum HealthScripts {
    /// Before a request: the state of each upstream in `KEYS`, granting this caller the probe
    /// lease (for `ARGV[1]` ms, held by the token `ARGV[2]`) of every upstream whose cooldown
    /// is over and that nobody probes.
    ///
    /// With `ARGV[3]` = `busy`, `KEYS` holds the health hashes and then as many in-flight
    /// sets (`RedisKeys.inFlight`): each set's live members are counted (members past their
    /// expiry score, left by a responder that died mid-call, are removed first).
    ///
    /// Reply: `[now, state, until, last_ok, last_latency, lat_ewma, in_flight, …]` with state
    /// 0 healthy, 1 cooling, 2 probe granted to the caller, 3 probed by another responder
    /// (-1 for an unknown latency, and for in-flight counts not asked for).
    public static let snapshot = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local lease = tonumber(ARGV[1])
        local owner = ARGV[2] or ''
        local busy = ARGV[3] == 'busy'
        local n = busy and (#KEYS / 2) or #KEYS
        local out = {now}
        for i = 1, n do
          local key = KEYS[i]
          local h = redis.call('HMGET', key, 'until', 'probe_until', 'last_ok', 'last_latency', 'lat_ewma')
          local cooldownEnd = tonumber(h[1]) or 0
          local probe = tonumber(h[2]) or 0
          local state = 0
          if cooldownEnd > 0 then
            if now < cooldownEnd then
              state = 1
            elseif probe > now then
              state = 3
            else
              redis.call('HSET', key, 'probe_until', now + lease, 'probe_owner', owner)
              state = 2
            end
          end
          out[#out + 1] = state
          out[#out + 1] = cooldownEnd
          out[#out + 1] = tonumber(h[3]) or 0
          out[#out + 1] = tonumber(h[4]) or -1
          out[#out + 1] = h[5] and math.floor(tonumber(h[5]) / 10) or -1
          if busy then
            redis.call('ZREMRANGEBYSCORE', KEYS[n + i], '-inf', now)
            out[#out + 1] = redis.call('ZCARD', KEYS[n + i])
          else
            out[#out + 1] = -1
          end
        end
        return out
        """)

    /// After a request: records each attempt's outcome and trips or closes the breaker.
    ///
    /// `ARGV[1..6]`: window ms, minimum calls, failure ratio, first cooldown ms, longest
    /// cooldown ms, key TTL s. Then six values per key: outcome, latency ms, Retry-After ms,
    /// error class, probe (0/1), and how many such outcomes (several `ok`s of one upstream
    /// travel as one entry). Last, the caller's lease token (as given to `snapshot`). A key
    /// may appear more than once; its entries are applied in order.
    ///
    /// Outcomes: `ok`; `fail`; `neutral` (the endpoint answered, but a 400 says nothing about
    /// its health: as a probe it closes the breaker); `none` (nothing was learned, e.g. the
    /// client left before an answer: a probe lease is given back); `release` (a probe lease the
    /// request did not use). A lease is given back only if this caller still holds it.
    ///
    /// Reply: one string per key: `tripped:<cooldown ms>`, `recovered`, or empty.
    public static let report = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local window = tonumber(ARGV[1])
        local minCalls = tonumber(ARGV[2])
        local ratio = tonumber(ARGV[3])
        local base = tonumber(ARGV[4])
        local longest = tonumber(ARGV[5])
        local ttl = tonumber(ARGV[6])
        local token = ARGV[7 + #KEYS * 6] or ''
        local out = {}
        local function giveBack(key)
          local h = redis.call('HMGET', key, 'probe_until', 'probe_owner')
          if (tonumber(h[1]) or 0) > now and (h[2] or '') == token then
            redis.call('HSET', key, 'probe_until', 0)
          end
        end
        for i, key in ipairs(KEYS) do
          local a = 6 + (i - 1) * 6
          local outcome = ARGV[a + 1]
          local latency = tonumber(ARGV[a + 2])
          local retryAfter = tonumber(ARGV[a + 3])
          local class = ARGV[a + 4]
          local probe = ARGV[a + 5] == '1'
          local count = tonumber(ARGV[a + 6]) or 1
          local result = ''
          if outcome == 'release' then
            giveBack(key)
          elseif outcome == 'none' then
            if probe then giveBack(key) end
          else
            local h = redis.call('HMGET', key, 'until', 'strikes', 'tripped_at', 'w_idx', 'w_ok', 'w_fail', 'p_ok', 'p_fail',
                                 'lat_ewma')
            local cooldownEnd = tonumber(h[1]) or 0
            local strikes = tonumber(h[2]) or 0
            local trippedAt = tonumber(h[3]) or 0
            local idx = math.floor(now / window)
            local wIdx = tonumber(h[4]) or idx
            local wOk, wFail = tonumber(h[5]) or 0, tonumber(h[6]) or 0
            local pOk, pFail = tonumber(h[7]) or 0, tonumber(h[8]) or 0
            if wIdx ~= idx then
              if wIdx == idx - 1 then pOk, pFail = wOk, wFail else pOk, pFail = 0, 0 end
              wOk, wFail = 0, 0
            end
            local function trip(cooldown)
              cooldownEnd = now + cooldown
              trippedAt = now
              wOk, wFail, pOk, pFail = 0, 0, 0, 0
              redis.call('HSET', key, 'until', cooldownEnd, 'probe_until', 0, 'tripped_at', now, 'strikes', strikes)
              redis.call('HINCRBY', key, 'trips', 1)
              result = 'tripped:' .. cooldown
            end
            local function growingCooldown()
              if now - trippedAt > longest * 4 then strikes = 0 end
              local cooldown = math.min(base * (2 ^ strikes), longest)
              strikes = strikes + 1
              return cooldown
            end
            local extra = {}
            if outcome == 'ok' or outcome == 'neutral' then
              if outcome == 'ok' then
                wOk = wOk + count
                -- Each of `count` calls weighs 1/5 (several oks travel as one entry).
                local ewma, tenths = tonumber(h[9]), latency * 10
                if ewma == nil then ewma = tenths else ewma = tenths + (ewma - tenths) * (0.8 ^ math.min(count, 20)) end
                extra = {'last_ok', now, 'last_latency', latency, 'lat_ewma', math.floor(ewma + 0.5)}
              end
              if cooldownEnd > 0 and (probe or now >= cooldownEnd) then
                cooldownEnd = 0
                wFail, pFail = 0, 0
                redis.call('HSET', key, 'until', 0, 'probe_until', 0)
                result = 'recovered'
              end
            else
              wFail = wFail + 1
              redis.call('HSET', key, 'last_fail', now, 'last_error', class)
              if cooldownEnd > now then
                if retryAfter > 0 and now + retryAfter > cooldownEnd then
                  cooldownEnd = now + retryAfter
                  redis.call('HSET', key, 'until', cooldownEnd)
                end
              elseif probe or cooldownEnd > 0 then
                trip(math.max(growingCooldown(), retryAfter))
              elseif retryAfter > 0 then
                trip(retryAfter)
              else
                local weight = 1 - (now - idx * window) / window
                local total = wOk + wFail + (pOk + pFail) * weight
                local failures = wFail + pFail * weight
                if total >= minCalls and failures > ratio * total then
                  trip(growingCooldown())
                end
              end
            end
            redis.call('HSET', key, 'w_idx', idx, 'w_ok', wOk, 'w_fail', wFail, 'p_ok', pOk, 'p_fail', pFail,
                       'last_traffic', now, unpack(extra))
          end
          redis.call('EXPIRE', key, ttl)
          out[#out + 1] = result
        end
        return out
        """)

    /// Keep-warm: whether this caller should ping the upstream in `KEYS[1]` now. Exactly one
    /// caller wins per quiet interval (`ARGV[1]` ms without traffic), because winning moves
    /// `last_traffic`. When a cooldown has ended, the ping is the probe (lease `ARGV[2]` ms,
    /// held by the token `ARGV[3]`).
    ///
    /// Reply: 0 no, 1 ping, 2 ping as the half-open probe.
    public static let keepWarmClaim = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local h = redis.call('HMGET', KEYS[1], 'until', 'probe_until', 'last_traffic')
        local cooldownEnd = tonumber(h[1]) or 0
        local probe = tonumber(h[2]) or 0
        local last = tonumber(h[3]) or 0
        if cooldownEnd > now then return 0 end
        if cooldownEnd > 0 then
          if probe > now then return 0 end
          redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[2]), 'probe_owner', ARGV[3] or '',
                     'last_traffic', now, 'last_ping', now)
          return 2
        end
        if now - last < tonumber(ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], 'last_traffic', now, 'last_ping', now)
        return 1
        """)
}
