import Testing
@testable import EnvyroEngine

@Suite("CowResource and SharedResourceManager")
struct CowResourceTests {
    @Test("A uniquely owned value is mutated in place without a clone")
    func unique() {
        var resource = CowResource(["PATH=/bin"])
        let unique = resource.isUniquelyOwned()
        #expect(unique)
        resource.modify { $0.append("HOME=/root") }
        #expect(resource.value == ["PATH=/bin", "HOME=/root"])
        #expect(resource.clones == 0)
    }

    @Test("Copies share storage and clone only when mutated while shared")
    func clonesWhenShared() {
        let original = CowResource(["a"])
        var copy = original
        #expect(copy.sharesStorage(with: original))
        let unique = copy.isUniquelyOwned()
        #expect(!unique)
        copy.modify { $0.append("b") }
        #expect(copy.clones == 1)
        #expect(!copy.sharesStorage(with: original))
        #expect(original.value == ["a"] && copy.value == ["a", "b"])
        copy.set(["c"])
        #expect(copy.clones == 1, "the clone is unique now: no second copy")
    }

    @Test("The manager shares published values and counts handouts and clones")
    func manager() throws {
        let manager = SharedResourceManager()
        manager.publish("env:default", ["PATH=/usr/bin:/bin", "TERM=xterm"])
        manager.publish("mounts:default", ["proc /proc", "dev /dev"])
        var first = try manager.share("env:default", as: [String].self)
        let second: CowResource<[String]> = try manager.share("env:default")
        #expect(first.sharesStorage(with: second))
        #expect(manager.stats == SharedResourceStats(resources: 2, shared: 2, clones: 0))
        first.modify { $0.append("DEBUG=1") }
        #expect(second.value == ["PATH=/usr/bin:/bin", "TERM=xterm"])
        #expect(manager.stats.clones == 1)
        let mounts = try manager.share("mounts:default", as: [String].self)
        #expect(mounts.value.count == 2)
        #expect(manager.names == ["env:default", "mounts:default"])
        #expect(manager.remove("mounts:default"))
        #expect(!manager.remove("mounts:default"))
    }

    @Test("Unknown names and wrong types are clear errors")
    func errors() {
        let manager = SharedResourceManager()
        manager.publish("policy", "json text")
        #expect(throws: SharedResourceError.unknownResource("nope", known: ["policy"])) {
            try manager.share("nope", as: String.self)
        }
        #expect(throws: SharedResourceError.typeMismatch("policy", stored: "String", requested: "Int")) {
            try manager.share("policy", as: Int.self)
        }
        #expect(SharedResourceError.unknownResource("nope", known: ["policy"]).description
                == "no shared resource named 'nope' (published: policy); publish it first")
        #expect(SharedResourceError.typeMismatch("policy", stored: "String", requested: "Int").description
                == "shared resource 'policy' holds String, not Int")
    }

    @Test("Many tasks sharing and mutating keep the original intact and count every clone")
    func concurrent() async throws {
        let manager = SharedResourceManager()
        manager.publish("env", ["BASE=1"])
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<20 {
                group.addTask {
                    guard var mine = try? manager.share("env", as: [String].self) else { return }
                    if task % 2 == 0 { mine.modify { $0.append("TASK=\(task)") } }
                    #expect(mine.value.first == "BASE=1")
                }
            }
        }
        #expect(try manager.share("env", as: [String].self).value == ["BASE=1"])
        #expect(manager.stats.clones == 10)
        #expect(manager.stats.shared == 21)
    }
}
