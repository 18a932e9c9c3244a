#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mutual-exclusion lock over a heap-allocated pthread mutex (it must not move).
public final class PthreadLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
}

/// Where temporary files go: `$TMPDIR`, else `/tmp`.
public func temporaryFileDirectory() -> String {
    getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
}

/// Runs `body` on a new thread: the thread (to join or detach), or the error number
/// `pthread_create` gave.
public func startThread(_ body: @escaping () -> Void) -> Result<pthread_t, ThreadStartError> {
    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    let context = Unmanaged.passRetained(Body(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { context in
        Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    guard created == 0 else {
        Unmanaged<Body>.fromOpaque(context).release()
        return .failure(ThreadStartError(code: created))
    }
    return .success(thread)
}

/// `pthread_create` failed with this error number.
public struct ThreadStartError: Error {
    public var code: Int32
}

/// `body` on this thread and `other` on a thread of its own, side by side; both results.
/// When no thread can be started, `other` runs here after `body`. `otherInBackground`: the
/// other thread runs at the lowest scheduling priority (Linux: nice 19 for that thread only),
/// so that it takes the cores `body`'s own threads leave idle instead of slowing them down;
/// once `body` is done, it has the core to itself.
public func inParallel<A, B>(_ body: () -> A, _ other: @escaping () -> B, otherInBackground: Bool = false) -> (A, B) {
    let result = OtherResult<B>()
    switch startThread({
        if otherInBackground { lowerThreadPriority() }
        result.value = other()
    }) {
    case .success(let thread):
        let mine = body()
        pthread_join(thread, nil)
        return (mine, result.value!)
    case .failure:
        return (body(), other())
    }
}

/// Puts the calling thread at the lowest priority (best effort: left as it is where the system
/// does not allow it).
private func lowerThreadPriority() {
    #if os(Linux)
        // The nice value is a thread's own on Linux: `who` 0 is the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    #endif
}

private final class OtherResult<B> {
    var value: B?
}
