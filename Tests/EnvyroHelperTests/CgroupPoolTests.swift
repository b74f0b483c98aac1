import EnvyroCgroup
@testable import EnvyroHelper
import Testing

/// The helper's pool of reaped containers' cgroups, without cgroupfs (FakeCgroup).
@Suite("cgroup pool")
struct CgroupPoolTests {
    let fake = RecordingSyscalls()
    func cgroup(_ name: String, reusable: Bool = true) -> FakeCgroup {
        let cg = FakeCgroup(name: name, recorder: fake)
        cg.reusable = reusable
        return cg
    }
    static let small = CgroupLimits(memoryMax: 64 << 20, pidsMax: 16)
    static let large = CgroupLimits(memoryMax: 256 << 20, pidsMax: 16)

    @Test("a kept cgroup is given back only for the same limits, once")
    func sameLimitsOnly() {
        var pool = CgroupPool(limit: 4)
        let a = cgroup("c-a")
        let kept = pool.keep(a, limits: Self.small, after: CgroupStats())
        #expect(kept)
        #expect(a.reusedFor == [Self.small], "it was reset for the limits it keeps")
        let forLarge = pool.take(Self.large)
        #expect(forLarge == nil, "other limits get a new cgroup")
        let again = pool.take(Self.small)
        #expect(again === a)
        let twice = pool.take(Self.small)
        #expect(twice == nil, "a cgroup is handed out once")
    }

    @Test("a cgroup that can't be reset exactly, or one over the pool's size, is left to the caller to remove")
    func refused() {
        var pool = CgroupPool(limit: 1)
        let dirty = pool.keep(cgroup("c-dirty", reusable: false), limits: Self.small, after: CgroupStats())
        #expect(!dirty)
        let first = pool.keep(cgroup("c-1"), limits: Self.small, after: CgroupStats())
        #expect(first)
        let overSize = pool.keep(cgroup("c-2"), limits: Self.small, after: CgroupStats())
        #expect(!overSize, "the pool holds pools.cgroups at most")
        var off = CgroupPool(limit: 0)
        let offKept = off.keep(cgroup("c-3"), limits: Self.small, after: CgroupStats())
        #expect(!offKept, "0 turns it off")
    }

    @Test("draining hands every idle cgroup back for removal and empties the pool")
    func drain() {
        var pool = CgroupPool(limit: 4)
        _ = pool.keep(cgroup("c-1"), limits: Self.small, after: CgroupStats())
        _ = pool.keep(cgroup("c-2"), limits: Self.large, after: CgroupStats())
        #expect(pool.drain().map(\.name).sorted() == ["c-1", "c-2"])
        let r8 = pool.take(Self.small)
        #expect(r8 == nil && pool.take(Self.large) == nil)
    }
}

/// The helper hands out pooled cgroups through `containerCgroup`.
@Suite("cgroup pool in the helper")
struct HelperCgroupPoolTests {
    @Test("a pooled cgroup has its counters reset as it is handed out, and a new one is made when none fits")
    func handedOutReset() throws {
        let f = try HelperFixture()
        f.fake.cgroupsWork = true
        let kept = FakeCgroup(name: "c-kept", recorder: f.fake)
        let limits = CgroupLimits(memoryMax: 64 << 20)
        let stored = f.server.cgroupPool.keep(kept, limits: limits, after: CgroupStats())
        #expect(stored)
        let got = try f.server.containerCgroup(limits)
        #expect(got.reused && got.cgroup === kept)
        #expect(kept.resets == 1, "its peaks and CPU counter start again from zero")
        let fresh = try f.server.containerCgroup(limits)
        #expect(!fresh.reused && fresh.cgroup !== kept, "the pool had only the one")
    }
}
