import EnvyroJSON
import EnvyroOCI
import Testing

/// The recursive attributes (rro, rnosuid, ...), crun's extensions (dest-nofollow, copy-symlink,
/// idmap, ridmap) and idmapped mounts' ranges, as the reader and the lowering see them (issue 17).
@Suite("Recursive mount attributes, crun's mount extensions and idmapped mounts")
struct MountAttributeTests {
    typealias A = MountAttributes

    static let recursive: [(options: [String], set: UInt64, clear: UInt64)] = [
        (["rro"], A.readOnly, 0),
        (["rrw"], 0, A.readOnly),
        (["rro", "rrw"], 0, A.readOnly),
        (["rrw", "rro"], A.readOnly, 0),
        (["rnosuid", "rnodev", "rnoexec"], A.noSuid | A.noDev | A.noExec, 0),
        (["rsuid", "rdev", "rexec"], 0, A.noSuid | A.noDev | A.noExec),
        (["rnoatime"], A.noAtime, A.atimeField),
        (["rstrictatime"], A.strictAtime, A.atimeField),
        (["rnorelatime"], A.strictAtime, A.atimeField),
        (["rrelatime"], A.relatime, A.atimeField),
        (["ratime"], A.relatime, A.atimeField),
        (["rnostrictatime"], A.relatime, A.atimeField),
        (["rnoatime", "rrelatime"], A.relatime, A.atimeField),
        (["rnoatime", "rro"], A.noAtime | A.readOnly, A.atimeField),
        (["rnodiratime"], A.noDirAtime, 0),
        (["rdiratime"], 0, A.noDirAtime),
        (["rnosymfollow"], A.noSymFollow, 0),
        (["rsymfollow"], 0, A.noSymFollow),
    ]

    @Test("Each recursive option sets or clears its mount_setattr bits; a later one overrides an earlier one",
          arguments: recursive)
    func recursiveOption(_ row: (options: [String], set: UInt64, clear: UInt64)) throws {
        let m = try OCIConfig.Mount(destination: "/x", type: "bind", source: "/y", options: ["rbind"] + row.options).lowered()
        #expect(m.attrSet == row.set, "\(row.options)")
        #expect(m.attrClear == row.clear, "\(row.options)")
        #expect(m.flags == MountFlags.bind | MountFlags.recursive, "recursive options are not mount(2) flags")
        #expect(m.data == "", "recursive options are not file-system data")
    }

    @Test("An atime option always clears the whole atime field, as mount_setattr requires")
    func atimeField() throws {
        for name in ["rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime"] {
            let m = try OCIConfig.Mount(destination: "/x", type: "tmpfs", options: [name]).lowered()
            #expect(m.attrClear & A.atimeField == A.atimeField, "\(name)")
            #expect(m.attrSet & ~A.atimeField == 0, "\(name)")
        }
    }

    static let extras: [(options: [String], extra: UInt32)] = [
        (["bind", "dest-nofollow"], MountExtra.destNoFollow),
        (["rbind", "copy-symlink"], MountExtra.copySymlink),
        (["bind", "idmap"], MountExtra.idmap),
        (["rbind", "ridmap"], MountExtra.idmap | MountExtra.idmapRecursive),
        (["bind", "dest-nofollow", "copy-symlink"], MountExtra.destNoFollow | MountExtra.copySymlink),
        (["bind", "src-nofollow", "dest-nofollow"], MountExtra.srcNoFollow | MountExtra.destNoFollow),
    ]

    @Test("crun's extension options become extra bits, never data", arguments: extras)
    func extraOption(_ row: (options: [String], extra: UInt32)) throws {
        let m = try OCIConfig.Mount(destination: "/x", type: "bind", source: "/y", options: row.options).lowered()
        #expect(m.extra == row.extra)
        #expect(m.data == "")
    }

    @Test("Ranges without the idmap option still make the mount idmapped (crun does the same)")
    func rangesAloneIdmap() throws {
        let range = [OCIConfig.IDMapping(containerID: 0, hostID: 1000, size: 10)]
        let m = try OCIConfig.Mount(destination: "/x", type: "bind", source: "/y", options: ["bind"],
                                    uidMappings: range, gidMappings: range).lowered()
        #expect(m.extra == MountExtra.idmap)
    }

    @Test("idmap, copy-symlink and src-nofollow on a mount that is not a bind are refused, naming the mount",
          arguments: [["idmap"], ["ridmap"], ["copy-symlink"], ["src-nofollow"]])
    func extensionNeedsBind(_ options: [String]) {
        #expect {
            try OCIConfig.Mount(destination: "/x", type: "tmpfs", source: "tmpfs", options: options).lowered(index: 3)
        } throws: { error in
            guard let error = error as? OCIError else { return false }
            return error.path == "mounts[3].options" && error.reason.contains("needs a bind mount")
        }
    }

    static let bindMount: JSONValue = ["destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]]

    @Test("The reader takes a mount's uidMappings and gidMappings")
    func readerTakesRanges() throws {
        var doc = setting(baseDocument(), "mounts.0", Self.bindMount)
        doc = setting(doc, "mounts.0.uidMappings", [["containerID": 0, "hostID": 1000, "size": 10]])
        doc = setting(doc, "mounts.0.gidMappings", [["containerID": 0, "hostID": 2000, "size": 5]])
        let config = try parse(doc)
        #expect(config.mounts[0].uidMappings == [.init(containerID: 0, hostID: 1000, size: 10)])
        #expect(config.mounts[0].gidMappings == [.init(containerID: 0, hostID: 2000, size: 5)])
    }

    static let badRanges: [(key: String, value: JSONValue, errorPath: String, reason: String)] = [
        ("uidMappings", [["containerID": 0, "hostID": 1000, "size": 10]], "mounts[0].gidMappings",
         "needs both uidMappings and gidMappings"),
        ("gidMappings", [["containerID": 0, "hostID": 1000, "size": 10]], "mounts[0].uidMappings",
         "needs both uidMappings and gidMappings"),
        ("uidMappings", [["containerID": 0, "hostID": 1000, "size": 0]], "mounts[0].uidMappings[0].size", "at least 1"),
        ("uidMappings", [["containerID": 0, "hostID": 4_294_967_295, "size": 2]], "mounts[0].uidMappings[0].size",
         "runs past id 4294967295"),
    ]

    @Test("A mount's ranges are checked like the container's, and one without the other is refused", arguments: badRanges)
    func badRange(_ row: (key: String, value: JSONValue, errorPath: String, reason: String)) throws {
        let doc = setting(setting(baseDocument(), "mounts.0", Self.bindMount), "mounts.0.\(row.key)", row.value)
        let error = try #require(parseError(doc))
        #expect(error.path == row.errorPath, "\(error)")
        #expect(error.reason.contains(row.reason), "\(error)")
    }

    @Test("An empty rootfsPropagation is unset, as runc and crun read it")
    func emptyRootfsPropagation() throws {
        let config = try parse(setting(baseDocument(), "linux.rootfsPropagation", ""))
        #expect(config.linux?.rootfsPropagation == nil)
    }

    @Test("features lists every recursive and extension option and says idmapped mounts are on")
    func features() throws {
        let doc = try FeaturesTests.document()
        let options = Set(doc["mountOptions"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for name in OCIMountOptions.recursiveNames + OCIMountOptions.extraNames { #expect(options.contains(name), "\(name)") }
        #expect(!options.contains("tmpcopyup"))
        #expect(doc["linux"]?["mountExtensions"] == ["idmap": ["enabled": true]])
    }
}
