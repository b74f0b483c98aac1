import EnvyroProtocol
import Testing
@testable import EnvyroEngine

@Suite("ContextPool and ExecutionContext")
struct ContextPoolTests {
    @Test("A context stores argv and env and gives them back as strings")
    func storesArgvAndEnv() {
        let context = ExecutionContext()
        context.argv = ["/bin/echo", "héllo", ""]
        context.appendEnvironment(key: "TOKEN", value: "s3cr3t")
        context.appendEnvironment("PATH=/bin")
        #expect(context.argv == ["/bin/echo", "héllo", ""])
        #expect(context.env == ["TOKEN=s3cr3t", "PATH=/bin"])
        #expect(context.argument(at: 1) == "héllo")
        #expect(context.argumentCount == 3 && context.environmentCount == 2)
    }

    @Test("Exec arrays point at NUL-terminated strings and end with NULL")
    func execArrays() {
        let context = ExecutionContext()
        context.argv = ["/bin/sh", "-c", "true"]
        context.env = ["A=1"]
        let (args, envs) = context.withExecArrays { argv, envp -> ([String], [String]) in
            var a: [String] = []
            var index = 0
            while let p = argv[index] { a.append(String(cString: p)); index += 1 }
            var e: [String] = []
            index = 0
            while let p = envp[index] { e.append(String(cString: p)); index += 1 }
            return (a, e)
        }
        #expect(args == ["/bin/sh", "-c", "true"])
        #expect(envs == ["A=1"])
    }

    @Test("Reset zeroes the argv and env bytes in place, not just drops them")
    func resetZeroesSecrets() {
        let context = ExecutionContext()
        let secret = "API_KEY=hunter2-very-secret"
        context.argv = ["/usr/bin/tool", "--password=hunter2-very-secret"]
        context.env = [secret, "OTHER=value"]
        context.cwd = "/work"
        context.policyName = "strict"
        context.fds = [3, 4]
        context.limits.set(.pidsMax, 10)
        context.recordTiming("clone", nanoseconds: 42)
        let needle = Array("hunter2".utf8)
        context.withSecretStorage { argv, env in
            #expect(contains(argv, needle))
            #expect(contains(env, needle))
        }
        context.reset()
        context.withSecretStorage { argv, env in
            #expect(argv.count > 0 && env.count > 0, "the storage is kept for reuse")
            #expect(!contains(argv, needle))
            #expect(!contains(env, needle))
            #expect(argv.allSatisfy { $0 == 0 })
            #expect(env.allSatisfy { $0 == 0 })
        }
        #expect(context.argv.isEmpty && context.env.isEmpty)
        #expect(context.cwd.isEmpty && context.policyName.isEmpty && context.fds.isEmpty)
        #expect(context.limits.isEmpty && context.timings.isEmpty && context.id == 0)
    }

    @Test("Growing the storage wipes the old allocation's secrets too")
    func growthKeepsContent() {
        let context = ExecutionContext()
        let long = (0..<200).map { "ARG\($0)-secret" }
        context.argv = SecretStrings(long)
        #expect(context.argv.strings == long)
        context.reset()
        context.withSecretStorage { argv, _ in #expect(argv.allSatisfy { $0 == 0 }) }
    }

    @Test("Release returns a zeroed context that the next acquire recycles")
    func releaseRecycles() {
        let pool = ContextPool(capacity: 4)
        let first = pool.acquire()
        first.env = ["SECRET=abc123"]
        let firstID = first.id
        #expect(pool.release(first))
        first.withSecretStorage { _, env in #expect(!contains(env, Array("abc123".utf8))) }
        let second = pool.acquire()
        #expect(second === first)
        #expect(second.id != firstID)
        #expect(second.env.isEmpty)
        pool.release(second)
        let stats = pool.stats
        #expect(stats == ContextPoolStats(size: 1, active: 0, recycled: 1, created: 1, peak: 1, dropped: 0, capacity: 4))
    }

    @Test("A double release or a foreign context is ignored, so no context is handed out twice")
    func doubleRelease() {
        let pool = ContextPool(capacity: 4)
        let other = ContextPool(capacity: 4)
        let context = pool.acquire()
        #expect(!other.release(context))
        #expect(pool.release(context))
        #expect(!pool.release(context))
        #expect(!pool.release(ExecutionContext()))
        let a = pool.acquire()
        let b = pool.acquire()
        #expect(a !== b)
        #expect(pool.stats.active == 2)
    }

    @Test("Releases beyond the capacity drop contexts", arguments: [0, 1, 3])
    func boundedCapacity(capacity: Int) {
        let pool = ContextPool(capacity: capacity)
        let contexts = (0..<5).map { _ in pool.acquire() }
        #expect(pool.stats.peak == 5)
        for context in contexts { pool.release(context) }
        let stats = pool.stats
        #expect(stats.size == capacity)
        #expect(stats.dropped == 5 - capacity)
        #expect(stats.active == 0)
    }

    @Test("Prewarmed contexts count as created and are recycled")
    func prewarm() {
        let pool = ContextPool(capacity: 2, prewarm: 5)
        #expect(pool.stats.size == 2 && pool.stats.created == 2)
        pool.withContext { _ in }
        #expect(pool.stats.recycled == 1)
    }

    @Test("100 runs in one process recycle at least 99 contexts")
    func hundredRuns() {
        let pool = ContextPool()
        for run in 0..<100 {
            pool.withContext { context in
                context.argv = ["/bin/true", "\(run)"]
            }
        }
        let stats = pool.stats
        #expect(stats.recycled >= 99)
        #expect(stats.recycleRate >= 0.99)
    }

    @Test("Stats stay consistent when many tasks acquire and release at once")
    func concurrentStats() async {
        let pool = ContextPool(capacity: 8)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for run in 0..<200 {
                        let context = pool.acquire()
                        context.env = ["RUN=\(task)-\(run)"]
                        #expect(context.env == ["RUN=\(task)-\(run)"])
                        pool.release(context)
                    }
                }
            }
        }
        let stats = pool.stats
        #expect(stats.active == 0)
        #expect(stats.recycled + stats.created == 16 * 200)
        #expect(stats.peak >= 1 && stats.peak <= 16)
        #expect(stats.size <= 8)
        #expect(stats.created <= 16 + stats.dropped)
    }

    @Test("Timings are recorded in order")
    func timings() {
        let context = ExecutionContext()
        let value = context.timed("plan") { 7 }
        context.recordTiming("exec", nanoseconds: 5)
        #expect(value == 7)
        #expect(context.timings.map(\.step) == ["plan", "exec"])
        #expect(context.timings[1].nanoseconds == 5)
    }
}

func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count, !needle.isEmpty else { return false }
    for start in 0...(haystack.count - needle.count) {
        var match = true
        for offset in 0..<needle.count where haystack[start + offset] != needle[offset] {
            match = false
            break
        }
        if match { return true }
    }
    return false
}
