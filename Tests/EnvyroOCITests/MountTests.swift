import EnvyroOCI
import Testing

/// One row of the lowering table: a mount and the `mount(2)` arguments it becomes.
struct LoweringCase: Sendable, CustomTestStringConvertible {
    let label: String
    let mount: OCIConfig.Mount
    let flags: UInt
    let propagation: UInt
    let data: String
    let isBind: Bool

    var testDescription: String { label }
}

@Suite("Lowering mount options to mount(2) arguments")
struct MountLoweringTests {
    static let cases: [LoweringCase] = [
        .init(label: "proc without options has no flags",
              mount: .init(destination: "/proc", type: "proc", source: "proc"),
              flags: 0, propagation: 0, data: "", isBind: false),
        .init(label: "a /dev tmpfs keeps mode and size as data",
              mount: .init(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
              flags: 2 | 1 << 24, propagation: 0, data: "mode=755,size=65536k", isBind: false),
        .init(label: "devpts passes newinstance, ptmxmode, mode and gid as data",
              mount: .init(destination: "/dev/pts", type: "devpts", source: "devpts",
                           options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
              flags: 2 | 8, propagation: 0, data: "newinstance,ptmxmode=0666,mode=0620,gid=5", isBind: false),
        .init(label: "sysfs read-only sets nosuid, noexec, nodev and ro",
              mount: .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
              flags: 1 | 2 | 4 | 8, propagation: 0, data: "", isBind: false),
        .init(label: "the cgroup mount takes rprivate as propagation",
              mount: .init(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
                           options: ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"]),
              flags: 1 | 2 | 4 | 8 | 1 << 21, propagation: 1 << 18 | 0x4000, data: "", isBind: false),
        .init(label: "a bind type with bind and rprivate is a plain bind",
              mount: .init(destination: "/etc/hosts", type: "bind", source: "/run/hosts", options: ["bind", "rprivate"]),
              flags: 4096, propagation: 1 << 18 | 0x4000, data: "", isBind: true),
        .init(label: "rbind is MS_BIND|MS_REC whatever the type",
              mount: .init(destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"]),
              flags: 4096 | 0x4000 | 1 | 2 | 4 | 8, propagation: 0, data: "", isBind: true),
        .init(label: "a bind type without options is still a bind",
              mount: .init(destination: "/data", type: "bind", source: "/srv/data"),
              flags: 4096, propagation: 0, data: "", isBind: true),
        .init(label: "a later option undoes an earlier one",
              mount: .init(destination: "/x", type: "tmpfs", options: ["ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"]),
              flags: 0, propagation: 0, data: "", isBind: false),
        .init(label: "sync, dirsync, remount, mand and the atime options set their bits",
              mount: .init(destination: "/x", type: "ext4", options: ["sync", "dirsync", "remount", "mand", "noatime", "nodiratime"]),
              flags: 16 | 128 | 32 | 64 | 1024 | 2048, propagation: 0, data: "", isBind: false),
        .init(label: "async, nomand, atime, diratime, norelatime and nostrictatime clear theirs",
              mount: .init(destination: "/x", type: "ext4",
                           options: ["sync", "mand", "noatime", "nodiratime", "relatime", "strictatime",
                                     "async", "nomand", "atime", "diratime", "norelatime", "nostrictatime", "defaults"]),
              flags: 0, propagation: 0, data: "", isBind: false),
        .init(label: "runbindable is MS_UNBINDABLE|MS_REC",
              mount: .init(destination: "/x", type: "tmpfs", options: ["runbindable"]),
              flags: 0, propagation: 1 << 17 | 0x4000, data: "", isBind: false),
        .init(label: "shared and slave have no MS_REC",
              mount: .init(destination: "/x", type: "tmpfs", options: ["shared", "shared"]),
              flags: 0, propagation: 1 << 20, data: "", isBind: false),
    ]

    @Test("Options lower as runc lowers them", arguments: cases)
    func lowering(_ row: LoweringCase) throws {
        let lowered = try row.mount.lowered()
        #expect(lowered.flags == row.flags)
        #expect(lowered.propagation == row.propagation)
        #expect(lowered.data == row.data)
        #expect(lowered.isBind == row.isBind)
        #expect(lowered.destination == row.mount.destination)
        #expect(lowered.source == row.mount.source)
        #expect(lowered.fstype == (row.isBind ? nil : row.mount.type))
    }

    @Test("Devices get their file type bits and 0666 unless a mode is given")
    func deviceModes() {
        #expect(OCIConfig.Device(type: "c", path: "/dev/null", major: 1, minor: 3).mode == 0o020666)
        #expect(OCIConfig.Device(type: "u", path: "/dev/u", major: 1, minor: 3, fileMode: 0o600).mode == 0o020600)
        #expect(OCIConfig.Device(type: "b", path: "/dev/sda", major: 8, minor: 0, fileMode: 0o660).mode == 0o060660)
        #expect(OCIConfig.Device(type: "p", path: "/dev/fifo").mode == 0o010666)
    }

    static let propagation: [(String, UInt)] = [
        ("private", 1 << 18), ("rprivate", 1 << 18 | 0x4000), ("slave", 1 << 19), ("rslave", 1 << 19 | 0x4000),
        ("shared", 1 << 20), ("rshared", 1 << 20 | 0x4000), ("unbindable", 1 << 17), ("runbindable", 1 << 17 | 0x4000),
    ]

    @Test("rootfsPropagation lowers with the same table as mount options", arguments: propagation)
    func rootfsPropagation(_ name: String, _ flags: UInt) throws {
        #expect(try OCIConfig.Linux(rootfsPropagation: name).rootfsPropagationFlags() == flags)
        #expect(try OCIConfig.Mount(destination: "/x", options: [name]).lowered().propagation == flags)
    }

    @Test("No rootfsPropagation lowers to nil, and an unknown one is an error")
    func rootfsPropagationAbsent() throws {
        #expect(try OCIConfig.Linux().rootfsPropagationFlags() == nil)
        #expect(throws: OCIError(path: "linux.rootfsPropagation",
                                 reason: "'sideways' is not one of: private, rprivate, slave, rslave, shared, rshared, unbindable, runbindable")) {
            try OCIConfig.Linux(rootfsPropagation: "sideways").rootfsPropagationFlags()
        }
    }

    static let badDestinations = ["proc", "", "/a/../b", "/..", "../etc"]

    @Test("A destination that is relative or has '..' is refused, naming the mount", arguments: badDestinations)
    func badDestination(_ destination: String) {
        #expect {
            try OCIConfig.Mount(destination: destination, type: "tmpfs").lowered(index: 4)
        } throws: { error in
            (error as? OCIError)?.path == "mounts[4].destination"
        }
    }

    @Test("Every option refused by name is refused at its index", arguments: OCIMountOptions.refusedNames)
    func refusedOption(_ option: String) {
        #expect {
            try OCIConfig.Mount(destination: "/x", type: "bind", source: "/y", options: ["rbind", option]).lowered(index: 0)
        } throws: { error in
            guard let error = error as? OCIError else { return false }
            return error.path == "mounts[0].options[1]" && error.reason.hasPrefix("'\(option)': ")
        }
    }
}
