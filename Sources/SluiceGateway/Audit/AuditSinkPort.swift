/// Where a served call goes once it is answered: its audit record, its settlement and its
/// health report, written after the response. In production it is the process's
/// `CallSettler` (journal, then Redis, with the spool when Redis is away); the pipeline's
/// unit tests use an in-memory fake.
protocol AuditSinkPort: AnyObject {
    /// Takes `call`; returns once its record is safe to outlive this process (journaled).
    /// The sink may hold it until `wake`.
    func submit(_ call: FinishedCall)
    /// Called once the response of the call submitted last is out: the sink's writer gets
    /// to work now, not while the client still waits.
    func wake()
}

extension AuditSinkPort {
    func wake() {}
}

extension CallSettler: AuditSinkPort {}
