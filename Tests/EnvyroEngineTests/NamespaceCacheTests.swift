import Synchronization
import Testing
@testable import EnvyroEngine

func key(_ name: String, digest: String = "v1", network: String = "none") -> TemplateKey {
    TemplateKey(policyName: name, policyDigest: digest, namespaces: 0x7C02_0000, networkMode: network,
                rootfsKind: "directory", writable: false, runsInit: false)
}

/// A template told apart from others by its seccomp program (`name`'s bytes).
func template(_ name: String) -> NamespaceTemplate {
    NamespaceTemplate(cloneFlags: 0x7C02_0000, seccompProgram: Array(name.utf8))
}

@Suite("NamespaceCache")
struct NamespaceCacheTests {
    @Test("Keys differ by every field of the policy and request shape")
    func keyFields() {
        let base = key("default")
        let variants = [
            key("strict"), key("default", digest: "v2"), key("default", network: "host"),
            TemplateKey(policyName: "default", policyDigest: "v1", namespaces: 1, networkMode: "none", rootfsKind: "directory", writable: false, runsInit: false),
            TemplateKey(policyName: "default", policyDigest: "v1", namespaces: 0x7C02_0000, networkMode: "none", rootfsKind: "image", writable: false, runsInit: false),
            TemplateKey(policyName: "default", policyDigest: "v1", namespaces: 0x7C02_0000, networkMode: "none", rootfsKind: "directory", writable: true, runsInit: false),
            TemplateKey(policyName: "default", policyDigest: "v1", namespaces: 0x7C02_0000, networkMode: "none", rootfsKind: "directory", writable: false, runsInit: true),
        ]
        for variant in variants { #expect(variant != base) }
        #expect(key("default") == base)
        #expect(Set(variants + [base, key("default")]).count == 8)
    }

    @Test("getOrCreate builds once and then hits")
    func getOrCreate() {
        let cache = NamespaceCache(capacity: 4)
        var builds = 0
        for _ in 0..<100 {
            let made = cache.getOrCreate(key("default")) {
                builds += 1
                return template("box")
            }
            #expect(made.seccompProgram == Array("box".utf8))
        }
        #expect(builds == 1)
        #expect(cache.stats == NamespaceCacheStats(hits: 99, misses: 1, evictions: 0, size: 1, capacity: 4))
    }

    @Test("A failing build stores nothing and rethrows")
    func failingBuild() {
        struct Broken: Error {}
        let cache = NamespaceCache(capacity: 4)
        #expect(throws: Broken.self) { try cache.getOrCreate(key("x")) { throw Broken() } }
        #expect(!cache.contains(key("x")))
        #expect(cache.stats.size == 0)
    }

    @Test("The least recently used template is evicted, and a hit refreshes recency")
    func lruOrder() {
        let cache = NamespaceCache(capacity: 3)
        cache.insert(template("a"), for: key("a"))
        cache.insert(template("b"), for: key("b"))
        cache.insert(template("c"), for: key("c"))
        #expect(cache.keysByRecency.map(\.policyName) == ["c", "b", "a"])
        #expect(cache.lookup(key("a"))?.seccompProgram == Array("a".utf8))
        #expect(cache.keysByRecency.map(\.policyName) == ["a", "c", "b"])
        cache.insert(template("d"), for: key("d"))
        #expect(!cache.contains(key("b")))
        #expect(cache.keysByRecency.map(\.policyName) == ["d", "a", "c"])
        cache.insert(template("e"), for: key("e"))
        #expect(cache.keysByRecency.map(\.policyName) == ["e", "d", "a"])
        #expect(cache.lookup(key("c")) == nil)
        let stats = cache.stats
        #expect(stats.evictions == 2 && stats.size == 3 && stats.hits == 1 && stats.misses == 1)
    }

    @Test("Remove keeps the list consistent", arguments: ["a", "b", "c"])
    func remove(name: String) {
        let cache = NamespaceCache(capacity: 3)
        for n in ["a", "b", "c"] { cache.insert(template(n), for: key(n)) }
        #expect(cache.remove(key(name))?.seccompProgram == Array(name.utf8))
        let expected = ["c", "b", "a"].filter { $0 != name }
        #expect(cache.keysByRecency.map(\.policyName) == expected)
        cache.insert(template("d"), for: key("d"))
        cache.insert(template("e"), for: key("e"))
        #expect(cache.keysByRecency.map(\.policyName) == ["e", "d", expected[0]])
        #expect(cache.stats.size == 3)
        cache.removeAll()
        #expect(cache.keysByRecency.isEmpty)
    }

    @Test("Templates are frozen values that carry seccomp programs and limit batches")
    func frozenTemplate() {
        var batch = ResourceLimitBatch()
        batch.set(.pidsMax, 64)
        let base = NamespaceTemplate(cloneFlags: 0x7C02_0000)
        let full = base.with(seccompProgram: [1, 2, 3]).with(limitBatch: batch)
        #expect(base.seccompProgram == nil && base.limitBatch == nil)
        #expect(full.seccompProgram == [1, 2, 3] && full.limitBatch == batch)
        #expect(full.cloneFlags == base.cloneFlags)
    }

    @Test("100 runs with the same key give at least 99 hits")
    func hundredRuns() {
        let cache = NamespaceCache()
        for _ in 0..<100 { _ = cache.getOrCreate(key("default")) { template("run") } }
        #expect(cache.stats.hits >= 99)
    }

    @Test("Concurrent lookups and inserts keep stats and size consistent")
    func concurrent() async {
        let cache = NamespaceCache(capacity: 8)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for round in 0..<300 {
                        let name = "p\((task * 7 + round) % 12)"
                        let got = cache.getOrCreate(key(name)) { template(name) }
                        #expect(got.seccompProgram == Array(name.utf8))
                    }
                }
            }
        }
        let stats = cache.stats
        #expect(stats.hits + stats.misses == 8 * 300)
        #expect(stats.size == 8)
        #expect(cache.keysByRecency.count == 8)
    }
}
