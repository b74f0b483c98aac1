// Mounts of issue 17 lowered to the wire: recursive attributes and extension bits carried,
// idmap ranges (a mount's own or the container's), and the refusals by JSON path.
import EnvyroOCI
import EnvyroProtocol
import Glibc
import Testing
@testable import EnvyroOCIRuntime

@Suite("mount lowering (issue 17)")
struct MountWireLoweringTests {
    static let range = [OCIConfig.IDMapping(containerID: 0, hostID: 1000, size: 10)]

    @Test("recursive attributes, extension bits and a mount's own ranges reach the wire mount")
    func carried() throws {
        let bundle = Bundle()
        let r = try bundle.lower { c in
            c.mounts.append(.init(destination: "/data", type: "bind", source: "/", options: ["rbind", "rro", "rnoatime", "ridmap", "dest-nofollow"],
                                  uidMappings: Self.range, gidMappings: Self.range))
        }.request
        let m = try #require(r.mounts.last)
        #expect(m.attrSet == MountAttributes.readOnly | MountAttributes.noAtime)
        #expect(m.attrClear == MountAttributes.atimeField)
        #expect(m.extra == MountExtra.idmap | MountExtra.idmapRecursive | MountExtra.destNoFollow)
        #expect(m.uidMappings == [IDMapping(containerID: 0, hostID: 1000, count: 10)])
        #expect(m.gidMappings == m.uidMappings)
    }

    @Test("idmap with no ranges of its own takes the container's user namespace mapping")
    func containerRanges() throws {
        let bundle = Bundle()
        let r = try bundle.lower { c in
            c.linux?.namespaces.append(.init(type: .user))
            c.linux?.uidMappings = [.init(containerID: 0, hostID: 100_000, size: 65_536)]
            c.linux?.gidMappings = [.init(containerID: 0, hostID: 200_000, size: 65_536)]
            c.mounts.append(.init(destination: "/data", type: "bind", source: "/", options: ["bind", "idmap"]))
        }.request
        let m = try #require(r.mounts.last)
        #expect(m.uidMappings == [IDMapping(containerID: 0, hostID: 100_000, count: 65_536)])
        #expect(m.gidMappings == [IDMapping(containerID: 0, hostID: 200_000, count: 65_536)])
    }

    @Test("idmap with no ranges and no user namespace is refused at the mount's options")
    func idmapWithoutRanges() throws {
        let bundle = Bundle()
        #expect {
            try bundle.lower { c in c.mounts.append(.init(destination: "/data", type: "bind", source: "/", options: ["bind", "idmap"])) }
        } throws: { error in
            "\(error)".contains("mounts[\(OCISpecMountCount.value)].options") && "\(error)".contains("no user namespace with mappings")
        }
    }

    @Test("a dangling symlink source is refused naming its target, unless copy-symlink or src-nofollow carries it",
          arguments: [[], ["copy-symlink"], ["src-nofollow"]])
    func danglingSource(_ extra: [String]) throws {
        let bundle = Bundle()
        let link = bundle.path + "/dangling"
        symlink("/nonexistent/envyro-target", link)
        defer { unlink(link) }
        let lower = { try bundle.lower { c in c.mounts.append(.init(destination: "/d", type: "bind", source: link, options: ["bind"] + extra)) } }
        if extra.isEmpty {
            #expect { try lower() } throws: { "\($0)".contains("is a dangling symlink (to /nonexistent/envyro-target)") }
        } else {
            #expect(try lower().request.mounts.last?.source == link)
        }
    }
}

/// How many mounts the default bundle has (the index a mount appended to it gets).
enum OCISpecMountCount {
    static let value: Int = (try? OCIConfig.parse(text: OCISpec.document(rootless: false).serialized()).mounts.count) ?? 0
}
