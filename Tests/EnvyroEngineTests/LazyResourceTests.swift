import Synchronization
import Testing
@testable import EnvyroEngine

struct FactoryFailure: Error, Equatable {}

@Suite("LazyResource and LazyResourcePool")
struct LazyResourceTests {
    @Test("Nothing is created until the first get")
    func lazy() throws {
        let calls = Counter()
        let resource = LazyResource(name: "helper") { calls.increment(); return 42 }
        #expect(!resource.isCreated)
        #expect(calls.value == 0)
        #expect(try resource.get() == 42)
        #expect(try resource.get() == 42)
        #expect(resource.isCreated && resource.creationCount == 1)
    }

    @Test("100 concurrent tasks create the value exactly once")
    func exactlyOnce() async throws {
        let calls = Counter()
        let resource = LazyResource { () -> Int in
            let number = calls.increment()
            var spin = 0
            for i in 0..<100_000 { spin &+= i }  // make the race window wide
            return number + (spin == -1 ? 1 : 0)
        }
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<100 { group.addTask { try resource.get() } }
            var all: [Int] = []
            for try await value in group { all.append(value) }
            return all
        }
        #expect(values.count == 100)
        #expect(Set(values) == [1])
        #expect(calls.value == 1)
    }

    @Test("A failing factory stores nothing and the next get retries")
    func failureRetries() throws {
        let attempts = Counter()
        let resource = LazyResource { () throws -> String in
            if attempts.increment() == 1 { throw FactoryFailure() }
            return "ready"
        }
        #expect(throws: FactoryFailure.self) { try resource.get() }
        #expect(!resource.isCreated && resource.failureCount == 1)
        #expect(try resource.get() == "ready")
    }

    @Test("Reset drops the value and the next get recreates it")
    func reset() throws {
        let counter = Counter()
        let resource = LazyResource { counter.increment() }
        #expect(try resource.get() == 1)
        #expect(resource.reset() == 1)
        #expect(!resource.isCreated)
        #expect(resource.reset() == nil)
        #expect(try resource.get() == 2)
        #expect(resource.creationCount == 2)
    }

    @Test("A pool creates registered resources on first use only")
    func pool() throws {
        let pool = LazyResourcePool<String, String>()
        pool.register("nshelper") { "helper-pid-1" }
        pool.register("ioworker") { "worker" }
        #expect(!pool.isCreated("nshelper"))
        #expect(try pool.get("nshelper") == "helper-pid-1")
        #expect(pool.isCreated("nshelper") && !pool.isCreated("ioworker"))
        #expect(pool.stats == LazyResourceStats(registered: 2, created: 1, creations: 1))
        #expect(pool.reset("nshelper") == "helper-pid-1")
        #expect(!pool.isCreated("nshelper"))
        #expect(pool.remove("ioworker") == nil)
        #expect(pool.keys == ["nshelper"])
    }

    @Test("An unknown name without a default factory lists the registered ones")
    func unknown() {
        let pool = LazyResourcePool<String, Int>()
        pool.register("b") { 1 }
        pool.register("a") { 2 }
        #expect(throws: LazyResourceError.unknownResource("c", known: ["a", "b"])) { try pool.resource("c") }
        #expect(LazyResourceError.unknownResource("c", known: ["a", "b"]).description
                == "no lazy resource named 'c' (registered: a, b); register it before use")
        #expect(LazyResourceError.unknownResource("c", known: []).description
                == "no lazy resource named 'c' (none are registered); register it before use")
    }

    @Test("A default factory builds any key once", arguments: ["default", "strict"])
    func defaultFactory(name: String) async throws {
        let builds = Counter()
        let pool = LazyResourcePool<String, String>(defaultFactory: { key in
            builds.increment()
            return "compiled:\(key)"
        })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    let value = try pool.get(name)
                    #expect(value == "compiled:\(name)")
                }
            }
            try await group.waitForAll()
        }
        #expect(builds.value == 1)
    }
}
