#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// berth's own threads that block in a system call (waitpid, read, inotify): plain detached
/// pthreads. Foundation's `Thread` built an NSThread with its dictionary for each, and its
/// code and metadata were pages the front faulted in for nothing else.
public enum Threads {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw SystemError(call: "pthread_create", errno: rc)
        }
        pthread_detach(thread)
    }
}
