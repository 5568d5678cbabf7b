import CLinux

/// How a worker gives memory back after a large answer.
///
/// glibc serves a large allocation with its own `mmap` and unmaps it on `free`, but only
/// above a threshold that it raises to the size of each large block freed (up to 32 MB):
/// after one 10 MB answer, the next ones come from the thread's arena and stay there, so
/// every thread that ever relayed a large answer keeps that much resident. Fixing the
/// threshold turns the adjustment off: an answer's buffers of 256 KiB or more are mapped
/// for the call and returned when it ends. The smaller blocks a translation makes are
/// given back by `trimAfterLargeAnswer`.
enum MemoryPolicy {
    /// Allocations at least this large get their own mapping.
    static let mmapThreshold: Int32 = 256 << 10
    /// An answer this large is followed by a trim of the heap.
    static let trimAfterBytes = 1 << 20

    /// Call once per process, before the threads start.
    static func apply() {
        _ = mallopt(M_MMAP_THRESHOLD, mmapThreshold)
        // Free space at the top of a heap above this is returned at once.
        _ = mallopt(M_TRIM_THRESHOLD, mmapThreshold * 2)
    }

    /// Returns freed heap memory to the system after a call that handled `bytes` of answer.
    static func trimAfterLargeAnswer(_ bytes: Int) {
        if bytes >= trimAfterBytes { _ = malloc_trim(0) }
    }
}
