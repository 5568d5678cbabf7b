/// Where a served call goes once it is answered: its audit record, its settlement and its
/// health report, written after the response. In production it is the process's
/// `CallSettler` (journal, then Redis, with the spool when Redis is away); the pipeline's
/// unit tests use an in-memory fake.
protocol AuditSinkPort: AnyObject {
    /// Takes `call`; returns once its record is safe to outlive this process (journaled).
    func submit(_ call: FinishedCall)
}

extension CallSettler: AuditSinkPort {}
