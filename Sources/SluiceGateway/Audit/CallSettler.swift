import Glibc
import Logging
import SluiceCore
import SluiceRedis

/// What a served call leaves to be written once its response is out.
struct FinishedCall {
    /// Its audit record (`nil` for calls that get none: the health check, `/metrics`).
    var record: AuditRecord?
    /// Its settlement, which the settler sends with the call's record.
    var settlement: GovernanceTicket?
    /// Its attempts, for the shared endpoint health.
    var health: HealthReport?
    /// Its record (or a budget alert's), numbered and journaled by `CallSettler.submit`.
    var prepared: AuditBatch.Prepared? = nil
    /// Queued under its number, its record still being prepared and journaled.
    var preparing = false
}

/// Writes every finished call of one worker process: one thread, its own Redis connection,
/// and a queue the acceptor threads hand their calls to after `FCGX_Finish`. A call's
/// settlement (worked out before that) goes in the round trip that writes the call's
/// record (all the batch's settlements in one script call); one that never reached Redis
/// is tried again later through the process's shared round trips (`GovernanceCombiner`).
///
/// A call is written as soon as the settler is free; whatever has queued up while the
/// previous round trip was out goes in the next one, as one pipeline of script calls: the
/// health report (`HealthScripts.report`, successes of one upstream summed), the
/// settlements (`LimitScripts.settle`) and the audit records (`AuditScripts.appendBatch`,
/// usage totals summed). So a quiet gateway
/// writes each call at once, and a busy one pays the round trip, the script start and the
/// usage totals once per batch rather than once per call. The process is the audit writer
/// (`host:pid:start`) and numbers its records; a batch Redis cannot take goes to the spool
/// whole, and its replay is skipped if it was applied after all.
///
/// The queue is bounded: when Redis cannot keep up, acceptors wait for room rather than
/// drop a record. On drain, the queue is emptied before the process exits.
final class CallSettler: @unchecked Sendable {
    /// Calls waiting before acceptors wait for room.
    static let capacity = 4096
    /// Largest batch in one round trip.
    static let largestBatch = 256
    /// While calls come in together (the last batch carried more than one), a batch
    /// smaller than this waits `linger` for more first; a lone call (a quiet gateway) goes
    /// at once.
    static let smallBatch = 64
    static let linger = Duration.milliseconds(4)

    private let context: WorkerContext
    let writerId: String
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let arrived: UnsafeMutablePointer<pthread_cond_t>
    private let drained: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`:
    private var queue: [FinishedCall] = []
    /// The settler waits for a call (an arrival wakes it).
    private var waiting = false
    private var stopping = false
    private var done = false
    private var busy = false
    /// The number of the writer's last record.
    private var sequence = 0
    /// How many calls have left the queue (the position of `queue[0]` since the start).
    private var queueBase = 0

    // The settler thread's own:
    private var quietUntil = ContinuousClock.now
    /// Calls in the last batch written (guarded by `mutex`, written by the settler thread).
    private var lastBatch = 0
    /// Settlements queued with the shared round trips, awaited from `due` (tried again, if
    /// they never reached Redis, as new tickets).
    private var awaiting: [(ticket: GovernanceTicket, requestId: String, due: ContinuousClock.Instant, tries: Int)] = []

    init(context: WorkerContext) {
        self.context = context
        self.writerId = "\(context.hostName):\(getpid()):\(context.loadedAtMs)"
        mutex = .allocate(capacity: 1)
        arrived = .allocate(capacity: 1)
        drained = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        MonotonicCondition.initialize(arrived)
        pthread_cond_init(drained, nil)
    }

    deinit {
        pthread_cond_destroy(drained)
        pthread_cond_destroy(arrived)
        pthread_mutex_destroy(mutex)
        drained.deallocate()
        arrived.deallocate()
        mutex.deallocate()
    }

    /// Starts the thread; `false` if the system refused.
    func start() -> Bool {
        // A new lease ends within a second: a settler asleep without a deadline must learn of
        // it to return its rest then.
        context.leases.onGrant { [weak self] in self?.leaseGranted() }
        return PosixThread.start { self.loop() } != nil
    }

    /// Wakes the settler if it waits for calls, so it sleeps again until the new lease ends.
    private func leaseGranted() {
        pthread_mutex_lock(mutex)
        if waiting { pthread_cond_signal(arrived) }
        pthread_mutex_unlock(mutex)
    }

    /// Queues a finished call; waits while the queue is full. Its record is numbered and
    /// queued under the lock (so the queue is in number order), then made and written to the
    /// journal outside it (so workers do not wait for each other's JSON and `write(2)`); the
    /// settler takes it once it is ready. The settler is signalled after the lock is let go,
    /// so it does not wake only to wait for it (its loop checks the queue before it waits).
    func submit(_ call: FinishedCall) {
        var call = call
        let record = call.record
        pthread_mutex_lock(mutex)
        while queue.count >= Self.capacity && !done {
            pthread_cond_wait(drained, mutex)
        }
        var number = 0
        if record != nil {
            sequence += 1
            number = sequence
            call.preparing = true
        }
        let position = queueBase + queue.count
        queue.append(call)
        let ready = waiting && !call.preparing
        pthread_mutex_unlock(mutex)
        if ready { pthread_cond_signal(arrived) }
        guard let record else { return }
        let prepared = AuditBatch.prepare(record, writer: writerId, sequence: number, keys: context.redisKeys)
        journal(prepared)
        pthread_mutex_lock(mutex)
        queue[position - queueBase].prepared = prepared
        queue[position - queueBase].preparing = false
        let wake = waiting
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(arrived) }
    }

    /// How many calls at the head of the queue are ready to write (with `mutex` held).
    private var readyCount: Int {
        var count = 0
        while count < queue.count && count < Self.largestBatch && !queue[count].preparing { count += 1 }
        return count
    }

    /// Writes `prepared` to the journal as a one-record batch.
    private func journal(_ prepared: AuditBatch.Prepared) {
        let config = context.config.audit
        let entry = AuditBatch.journalEntry(of: prepared, writer: writerId, keys: context.redisKeys,
                                            maxLength: config.maxLength, usageTTLSeconds: config.usageDays * 86_400)
        context.auditJournal.current.append(sequence: prepared.sequence, entry: entry)
    }

    /// Writes what is queued, then stops the thread; `false` if that took past `deadline`.
    func finish(until deadline: ContinuousClock.Instant) -> Bool {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(arrived)
        pthread_mutex_unlock(mutex)
        while ContinuousClock.now < deadline {
            pthread_mutex_lock(mutex)
            let finished = done
            pthread_mutex_unlock(mutex)
            if finished { return true }
            usleep(5_000)
        }
        return false
    }

    /// Calls queued or being written.
    var backlog: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return queue.count + (busy ? 1 : 0)
    }

    /// The metrics series of a batch's records, added up (the settler's thread only; the
    /// series texts are kept from batch to batch).
    private lazy var metricSums = MetricsScripts.Sums(metricTags: context.config.audit.metricTags)
    /// The audit stream's head as this writer's last batch left it (`nil`: not known).
    private var chainHead: String?
    /// The last hash of the batch being sent, when it carries its chain; stale heads in a
    /// row (at most 4), and batches still to send without a chain (2^misses after a miss).
    private var chainedTo: String?
    private var chainMisses = 0
    private var chainSkip = 0

    private var lastAckWarning = ContinuousClock.now - .seconds(60)
    /// The last record number the journal may forget, once a batch was safe nowhere else.
    private var commitCeiling: Int?

    private func loop() {
        let redis = RedisConnection(config: context.config.redis)
        let health = EndpointHealthStore(redis: redis, keys: context.redisKeys, policy: context.config.health,
                                         logger: context.logger)
        while true {
            pthread_mutex_lock(mutex)
            busy = false
            while readyCount == 0 && !(stopping && queue.isEmpty) {
                waiting = true
                // Woken by a call, by a settlement due again, or when a lease ends (its rest
                // goes back).
                if let due = [awaiting.map(\.due).min(), context.leases.nextDue()].compactMap({ $0 }).min() {
                    if due <= ContinuousClock.now { waiting = false; break }
                    MonotonicCondition.wait(arrived, mutex, for: due - ContinuousClock.now)
                } else {
                    pthread_cond_wait(arrived, mutex)
                }
                waiting = false
            }
            // Under load a small batch waits a moment for more: each batch costs Redis three
            // script calls whatever its size (the health report, the settlements, the records
            // with their usage totals), so bigger batches cut Redis's time per call (bench,
            // c=64: 90 -> 70 µs). Records are journaled before their responses complete, so
            // the wait risks nothing. Arrivals do not wake it (`waiting` is off); a drain does
            // (`finish` signals).
            if !stopping && lastBatch > 1 && readyCount < Self.smallBatch {
                MonotonicCondition.wait(arrived, mutex, for: Self.linger)
            }
            let draining = stopping
            // The rest of the leases that ended (all of them on a drain) goes back with this
            // batch's settlements.
            if draining { context.leases.close() }
            let returned = context.leases.returns(at: .now)
            if queue.isEmpty && draining && awaiting.isEmpty && returned.isEmpty {
                done = true
                pthread_cond_broadcast(drained)
                pthread_mutex_unlock(mutex)
                break
            }
            let take = readyCount
            lastBatch = take
            var batch = Array(queue[..<take])
            if !returned.isEmpty {
                batch.append(FinishedCall(record: nil, settlement: GovernanceTicket(admission: nil, extra: nil, settlements: returned)))
            }
            queue.removeFirst(take)
            queueBase += take
            busy = true
            pthread_cond_broadcast(drained)
            pthread_mutex_unlock(mutex)
            if !batch.isEmpty { write(batch, redis: redis, health: health) }
            settleAwaiting(draining: draining)
        }
        context.auditSpool.flush()
        context.auditJournal.close()
        redis.close()
    }

    /// One round trip for `batch` (and the alerts the previous one raised).
    private func write(_ batch: [FinishedCall], redis: RedisConnection, health: EndpointHealthStore) {
        let keys = context.redisKeys
        let numbered = batch.compactMap(\.prepared)
        var audit = AuditBatch(writer: writerId, firstSequence: numbered.first?.sequence ?? 0)
        for prepared in numbered {
            audit.add(prepared)
            if let stored = prepared.record { metricSums.add(stored) }
        }
        if !metricSums.isEmpty {
            context.metrics.add(sums: metricSums.values)
            metricSums.removeAll()
        }
        // The records' hash chain, worked out here when the stream's head is known (Redis
        // then stores it rather than hashing every record); otherwise the reply tells the
        // head. With several workers another one often moves the head between two batches:
        // after a batch whose hashes were not the stream's, the next few only ask for it.
        if !audit.isEmpty {
            if let head = chainHead, chainSkip == 0 {
                chainedTo = audit.chain(after: head)
            } else {
                chainSkip = max(0, chainSkip - 1)
                chainedTo = nil
                audit.askForHead()
            }
            chainHead = nil
        }

        // The batch's settlements that no admission has taken yet go in this round trip,
        // between the health reports and the records: one settle script call for all.
        let tickets = batch.compactMap(\.settlement)
        let claimed = context.governance.claim(tickets)
        var settlements = SettlementRound(claimed)
        let settleCall = settlements.call(keys: keys)
        let reports = health.reportCalls(batch.compactMap(\.health))
        let extras = reports.map(\.call) + (settleCall.map { [$0] } ?? [])
        var recordsSafe = false
        switch send(audit, extras: extras, redis: redis, recordsSafe: &recordsSafe) {
        case .success(let replies):
            for (report, reply) in zip(reports, replies) {
                EndpointHealthStore.log(health.changes(in: reply, upstreams: report.upstreams), to: context.logger)
            }
            if settleCall != nil, replies.count == extras.count, let reply = replies.last { settlements.deliver(reply) }
        case .failure(let error):
            for ticket in claimed { ticket.failure = error }
        }
        context.governance.complete(claimed)
        // The journal forgets only up to the first batch that is safe nowhere else (the
        // spool's disk refused it): a later batch's success does not speak for it.
        if let first = numbered.first, let last = numbered.last {
            if !recordsSafe { commitCeiling = min(commitCeiling ?? Int.max, first.sequence - 1) }
            context.auditJournal.committed(through: min(last.sequence, commitCeiling ?? Int.max))
        }
        // Each settlement's outcome is handled by `settleAwaiting`, right after this: the
        // thresholds they crossed are raised as alert records of a later batch, and one that
        // never reached Redis is tried again. (A ticket something else had taken would be
        // awaited there.)
        let now = ContinuousClock.now
        for call in batch {
            guard let settlement = call.settlement else { continue }
            awaiting.append((settlement, call.record?.requestId ?? "", now, 1))
        }
    }

    /// Sends `extras` then the batch's records in one round trip; returns the extras'
    /// replies, or why they have none (`notSent` when they were not sent at all). Records
    /// Redis cannot take go to the spool, as do all records while the spool holds some (so
    /// the writer's records reach Redis in order).
    private func send(_ audit: AuditBatch, extras: [AdmissionPlan.ScriptCall], redis: RedisConnection,
                      recordsSafe: inout Bool) -> Result<[RedisValue], RedisError> {
        let config = context.config.audit
        let spool = context.auditSpool
        let append = audit.isEmpty ? nil
            : audit.call(keys: context.redisKeys, maxLength: config.maxLength, usageTTLSeconds: config.usageDays * 86_400)
        let heldBack = RedisError(.connection, "Redis failed less than a second ago; not tried again yet", notSent: true)
        if let append, spool.hasRecords || ContinuousClock.now < quietUntil {
            recordsSafe = spool.append(keys: append.keys, arguments: append.arguments, records: audit.count)
            guard !extras.isEmpty else { return .success([]) }
            guard ContinuousClock.now >= quietUntil else { return .failure(heldBack) }
            do {
                return .success(try redis.evaluateAll(extras))
            } catch {
                return .failure(error)
            }
        }
        let calls = extras + (append.map { [$0] } ?? [])
        guard !calls.isEmpty else { return .success([]) }
        do {
            // The health reports, the settlements and the records: one round trip. The
            // records go last.
            let replies = try redis.evaluateAll(calls)
            if append != nil, case .array(let reply) = replies.last, reply.count == 2 {
                chainHead = reply[1].text
                if let chainedTo {
                    chainMisses = chainHead == chainedTo ? 0 : min(chainMisses + 1, 4)
                    chainSkip = chainMisses == 0 ? 0 : 1 << chainMisses
                }
            }
            if let append, case .error(let message) = replies.last {
                context.logger.error("Redis refused audit records; they are spooled", metadata: ["error": "\(message)"])
                recordsSafe = spool.append(keys: append.keys, arguments: append.arguments, records: audit.count)
            } else if let append, !replicasAcknowledged(redis) {
                // Written, but maybe only on a primary a failover could lose: kept in the
                // spool too. Its replay is a no-op where the batch survived (the writer's
                // sequence numbers are already there), and restores it where it did not.
                recordsSafe = spool.append(keys: append.keys, arguments: append.arguments, records: audit.count)
            } else {
                recordsSafe = true
            }
            return .success(Array(replies.prefix(extras.count)))
        } catch {
            quietUntil = ContinuousClock.now + .seconds(1)
            if let append {
                context.logger.error("Redis is unreachable; audit records go to the local spool",
                                     metadata: ["error": "\(error)", "spool": "\(spool.path)"])
                recordsSafe = spool.append(keys: append.keys, arguments: append.arguments, records: audit.count)
            }
            return .failure(error)
        }
    }

    /// Whether `redis.replica_acks` replicas acknowledged everything written so far (`WAIT`),
    /// within `redis.replica_ack_timeout`; true when none are asked for.
    /// While the replicas are missing or slow (a `WAIT` timed out), later batches do not wait
    /// for them until this instant: they count as unconfirmed (spooled) at once, so a lost
    /// replica costs disk writes, not the settler's throughput.
    private var unconfirmedUntil = ContinuousClock.now

    private func replicasAcknowledged(_ redis: RedisConnection) -> Bool {
        let config = context.config.redis
        guard config.replicaAcks > 0 else { return true }
        guard ContinuousClock.now >= unconfirmedUntil else { return false }
        guard redis.replicasConfirm(config.replicaAcks, within: config.replicaAckTimeout,
                                    generation: redis.connectionGeneration) else {
            let now = ContinuousClock.now
            unconfirmedUntil = now + .seconds(2)
            if now - lastAckWarning >= .seconds(10) {
                lastAckWarning = now
                context.logger.warning("audit records not acknowledged by enough Redis replicas; kept in the local spool until replayed",
                                       metadata: ["wanted": "\(config.replicaAcks)"])
            }
            return false
        }
        return true
    }

    /// Waits for `ticket` (sending it if no other thread has) and raises the thresholds it
    /// crossed. One that never reached Redis (no connection, or a recent timeout held it back)
    /// is queued again and awaited a hold-off later, for as long as a budget reservation
    /// holds; a drain gives it one more try at once instead. One that may have reached Redis
    /// is not sent again (it could be applied twice), and is logged.
    private func settled(_ ticket: GovernanceTicket, requestId: String, tries: Int, draining: Bool) {
        context.governance.wait(for: ticket)
        if let failure = ticket.failure, failure.notSent {
            if draining && tries == 1 {
                return settled(context.governance.queueSettlement(ticket.settlements), requestId: requestId,
                               tries: tries + 1, draining: true)
            }
            if !draining && Duration.seconds(tries) < Settlement.reservationLifetime {
                awaiting.append((context.governance.queueSettlement(ticket.settlements), requestId,
                                 ContinuousClock.now + RedisConnection.holdOff, tries + 1))
                return
            }
        }
        if let problem = ticket.failure.map({ "\($0)" }) ?? ticket.settleError {
            // As with any settlement Redis cannot take: token reservations stay at their
            // estimate until they leave the window; budget reservations lapse.
            context.logger.warning("cannot settle the call's reservations", metadata: ["error": "\(problem)"])
        }
        for alert in ticket.alerts {
            raise(BudgetAlert(counter: alert.counter, threshold: alert.threshold, spentNanos: alert.spentNanos,
                              requestId: requestId, timeMs: Governor.nowMs()))
        }
    }

    /// Settles the awaited settlements that are due (all of them when draining).
    private func settleAwaiting(draining: Bool) {
        let now = ContinuousClock.now
        let due = awaiting.filter { draining || $0.due <= now }
        guard !due.isEmpty else { return }
        awaiting.removeAll { draining || $0.due <= now }
        for entry in due {
            settled(entry.ticket, requestId: entry.requestId, tries: entry.tries, draining: draining)
        }
    }

    /// A budget threshold was reached: a log line, an audit record of kind `alert` (with the
    /// next batch), a metric and the budget's webhook.
    private func raise(_ alert: BudgetAlert) {
        context.logger.warning("budget alert: \(alert.message)",
                               metadata: ["budget": "\(alert.counter.budget.name)", "threshold": "\(alert.threshold)"])
        // Numbered, journaled and queued like a call's record, for the next batch.
        pthread_mutex_lock(mutex)
        sequence += 1
        let prepared = AuditBatch.prepareAlert(json: alert.json, requestId: alert.requestId, sequence: sequence)
        journal(prepared)
        queue.append(FinishedCall(record: nil, settlement: nil, health: nil, prepared: prepared))
        pthread_mutex_unlock(mutex)
        context.metrics.add([("sluice_budget_alerts_total{budget=\(JSONText.quoted(alert.counter.budget.name))}", "1")])
        context.alertNotifier.post(alert)
    }
}
