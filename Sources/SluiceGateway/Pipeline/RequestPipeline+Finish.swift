import SluiceCore

/// What follows the answer: the call's settlement and news for the shared endpoint health
/// (before the response completes), its hand-off to the settler, and what is given back
/// once the response is out.
extension RequestPipeline {
    /// Works out the settlement of the call just answered, before its response leaves for
    /// nginx (`FCGX_Finish`): the settler thread sends it with the call's audit record, in
    /// the round trip that writes the record (one settle script call for its whole batch),
    /// off the next request's path. Every reservation is settled with the true usage (none
    /// for endpoints that did not answer).
    public func settleBeforeFinish() {
        reportNewsBeforeFinish()
        let plans = pendingPlans
        pendingPlans = []
        // Admitted from the local allowance (Redis was unreachable): nothing was reserved,
        // and trying Redis again here would hold the response for its timeout.
        guard let finished = call, plans.contains(where: { $0.atMs != nil }) else { return }
        // A cache hit costs nothing; its reservation is settled at zero usage.
        let cost = finished.cache?.result == .hit ? 0 : governor.cost(of: finished.usage, at: finished.endpoint)
        finished.costNanos = cost
        let settlements = plans.map { pending in
            let served = pending.endpoint == nil || pending.endpoint == finished.endpoint?.name
            return governor.settlement(pending.plan, admittedAtMs: pending.atMs, usage: served ? finished.usage : nil,
                                       costNanos: served ? cost ?? 0 : 0)
        }
        pendingSettlement = GovernanceTicket(admission: nil, extra: nil, settlements: settlements)
    }

    /// A request that held the pool's probe lease of a cooled-down endpoint, or saw an
    /// endpoint fail, records its outcome before its response completes (one round trip, on
    /// those paths only), so the client's next call, on any responder, finds the endpoint
    /// recovered or cooling instead of calling it again. Reports of calls that went well
    /// travel with the settler's next batch.
    private func reportNewsBeforeFinish() {
        guard let report = pendingReport,
              !report.unusedProbes.isEmpty || report.attempts.contains(where: { $0.wasProbe || $0.outcome == .fail })
        else { return }
        pendingReport = nil
        let changes = healthStore.report(report.attempts, releasing: report.unusedProbes, owner: report.owner)
        EndpointHealthStore.log(changes, to: context.logger)
    }

    /// Hands the call just answered to the settler, before its response completes
    /// (`FCGX_Finish`): its audit record (journaled at once), its settlement (sent with the
    /// record) and its health report.
    public func handOffBeforeFinish() {
        let report = pendingReport
        pendingReport = nil
        let finished = call
        call = nil
        var done = FinishedCall(health: report.map { HealthReport(attempts: $0.attempts, unusedProbes: $0.unusedProbes,
                                                                  owner: $0.owner) })
        done.settlement = pendingSettlement
        pendingSettlement = nil
        if let finished {
            if finished.costNanos == nil { finished.costNanos = governor.cost(of: finished.usage, at: finished.endpoint) }
            done.record = finished.record(now: clock.now, secrets: context.providerSecrets)
            if let record = done.record { exportSpans(of: finished, record: record) }
            pendingCacheEntry = Self.cacheEntry(of: finished)
        }
        guard done.record != nil || done.health != nil || done.settlement != nil else { return }
        settler.submit(done)
    }

    /// After the response completed: gives back the memory a large answer took.
    public func afterFinish() {
        if let entry = pendingCacheEntry { storeInCache(entry) }
        pendingCacheEntry = nil
        healthStore.release(inFlightMarks)
        inFlightMarks = []
        MemoryPolicy.trimAfterLargeAnswer(bufferedAnswerBytes)
        bufferedAnswerBytes = 0
    }
}
