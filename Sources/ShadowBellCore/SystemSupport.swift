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
/// When no thread can be started, `other` runs here after `body`.
public func inParallel<A, B>(_ body: () -> A, _ other: @escaping () -> B) -> (A, B) {
    let result = OtherResult<B>()
    switch startThread({ result.value = other() }) {
    case .success(let thread):
        let mine = body()
        pthread_join(thread, nil)
        return (mine, result.value!)
    case .failure:
        return (body(), other())
    }
}

private final class OtherResult<B> {
    var value: B?
}
