import EnvyroJSON
import EnvyroOCI
import Testing

/// process.ioPriority, linux.personality, linux.timeOffsets with a time namespace,
/// linux.netDevices, and the namespace each linux.sysctl key needs (issue 17).
@Suite("Process settings of issue 17")
struct ProcessExtrasTests {
    @Test("An I/O priority is read with its class and level, and lowered to ioprio_set's value")
    func ioPriority() throws {
        let c = try parse(setting(baseDocument(), "process.ioPriority", ["class": "IOPRIO_CLASS_BE", "priority": 5]))
        let io = try #require(c.process?.ioPriority)
        #expect(io == OCIConfig.IOPriority(ioClass: "IOPRIO_CLASS_BE", priority: 5))
        #expect(io.value == 2 << 13 | 5)
        #expect(OCIConfig.IOPriority(ioClass: "IOPRIO_CLASS_IDLE", priority: 0).value == 3 << 13)
    }

    @Test("A personality is read with its domain and lowered to personality(2)'s argument")
    func personality() throws {
        let c = try parse(setting(baseDocument(), "linux.personality", ["domain": "LINUX32"]))
        #expect(c.linux?.personality == OCIConfig.Personality(domain: "LINUX32"))
        #expect(c.linux?.personality?.value == 0x0008)
        #expect(OCIConfig.Personality(domain: "LINUX").value == 0)
    }

    @Test("Time offsets are read for a new time namespace, as timens_offsets lines")
    func timeOffsets() throws {
        var d = setting(baseDocument(), "linux.namespaces.6", ["type": "time"])
        d = setting(d, "linux.timeOffsets", ["monotonic": ["secs": 86400], "boottime": ["secs": -5, "nanosecs": 500]])
        let linux = try #require(try parse(d).linux)
        #expect(linux.namespace(.time) == OCIConfig.Namespace(type: .time))
        #expect(linux.timeOffsets.map(\.line) == ["monotonic 86400 0", "boottime -5 500"])
    }

    @Test("Net devices are read with their names in the container (the host name by default)")
    func netDevices() throws {
        let c = try parse(setting(baseDocument(), "linux.netDevices", ["veth0": ["name": "eth0"], "dummy1": [:]]))
        #expect(c.linux?.netDevices == [OCIConfig.NetDevice(hostName: "veth0", name: "eth0"),
                                        OCIConfig.NetDevice(hostName: "dummy1", name: "dummy1")])
    }

    @Test("Sysctls of the ipc, net and uts namespaces are accepted when the container has them")
    func namespacedSysctls() throws {
        let c = try parse(setting(baseDocument(), "linux.sysctl", ["kernel.shmmax": "1", "fs.mqueue.msg_max": "5",
                                                                   "net.ipv4.ip_forward": "1", "kernel.domainname": "x"]))
        #expect(c.linux?.sysctl.count == 4)
        #expect(OCIConfig.sysctlNamespace("kernel.msgmnb") == .ipc)
        #expect(OCIConfig.sysctlNamespace("net.core.somaxconn") == .network)
        #expect(OCIConfig.sysctlNamespace("kernel.hostname") == .uts)
        #expect(OCIConfig.sysctlNamespace("vm.swappiness") == nil)
    }

    static let broken: [ConfigChange] = [
        .init("an unknown I/O class", "process.ioPriority", ["class": "IOPRIO_CLASS_NONE", "priority": 1],
              errorPath: "process.ioPriority.class", reason: "is not one of: IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE"),
        .init("an I/O level over 7", "process.ioPriority", ["class": "IOPRIO_CLASS_BE", "priority": 8],
              errorPath: "process.ioPriority.priority", reason: "not between 0 and 7"),
        .init("an I/O priority without a class", "process.ioPriority", ["priority": 1], errorPath: "process.ioPriority.class", reason: "required"),
        .init("an unknown personality domain", "linux.personality", ["domain": "SVR4"], errorPath: "linux.personality.domain",
              reason: "'SVR4' is not one of: LINUX, LINUX32"),
        .init("a personality flag", "linux.personality", ["domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]],
              errorPath: "linux.personality.flags[0]", reason: "defines no personality flags"),
        .init("time offsets without a time namespace", "linux.timeOffsets", ["monotonic": ["secs": 1]],
              reason: "needs a time namespace in linux.namespaces"),
        .init("an unknown clock", "linux.timeOffsets", ["realtime": ["secs": 1]], errorPath: "linux.timeOffsets.realtime",
              reason: "unknown key"),
        .init("a sysctl that is not namespaced", "linux.sysctl", ["vm.swappiness": "10"], errorPath: "linux.sysctl.vm.swappiness",
              reason: "'vm.swappiness' is not namespaced"),
        .init("a net device name with a slash", "linux.netDevices", ["eth0": ["name": "a/b"]], errorPath: "linux.netDevices.eth0.name",
              reason: "'a/b' is not a network interface name"),
        .init("a net device name over 15 bytes", "linux.netDevices", ["averyveryverylongname": [:]],
              errorPath: "linux.netDevices.averyveryverylongname", reason: "is not a network interface name"),
    ]

    @Test("A bad process setting fails naming its JSON path", arguments: broken)
    func brokenValue(_ change: ConfigChange) throws {
        let error = try #require(parseError(setting(baseDocument(), change.path, change.value)), "\(change.label) was accepted")
        #expect(error.path == change.errorPath, "\(error)")
        #expect(error.reason.contains(change.reason), "\(error)")
    }

    static let hostNamespaces: [(String, String, String)] = [
        ("net.ipv4.ip_forward", "network", "a network namespace"),
        ("kernel.shmmax", "ipc", "an IPC namespace"),
        ("fs.mqueue.queues_max", "ipc", "an IPC namespace"),
        ("kernel.hostname", "uts", "a UTS namespace"),
    ]

    @Test("A sysctl is refused by name when its namespace is the host's", arguments: hostNamespaces)
    func sysctlInTheHostsNamespace(_ key: String, _ namespace: String, _ reason: String) throws {
        var d = baseDocument()
        var namespaces = d.objectValue?["linux"]?.objectValue?["namespaces"]?.arrayValue ?? []
        namespaces.removeAll { $0.objectValue?["type"]?.stringValue == namespace }
        d = setting(d, "linux.namespaces", .array(namespaces))
        d = setting(d, "linux.sysctl", .object([key: .string("1")]))
        let error = try #require(parseError(d))
        #expect(error.path == "linux.sysctl.\(key)")
        #expect(error.reason.contains("needs \(reason) of the container's own"), "\(error)")
    }

    @Test("A net device needs a network namespace of the container's")
    func netDeviceWithoutNetworkNamespace() throws {
        var d = baseDocument()
        var namespaces = d.objectValue?["linux"]?.objectValue?["namespaces"]?.arrayValue ?? []
        namespaces.removeAll { $0.objectValue?["type"]?.stringValue == "network" }
        d = setting(d, "linux.namespaces", .array(namespaces))
        d = setting(d, "linux.netDevices", ["eth0": [:]])
        let error = try #require(parseError(d))
        #expect(error.path == "linux.netDevices")
        #expect(error.reason.contains("needs a network namespace"))
    }
}

@Suite("The features document lists the process settings")
struct ProcessFeaturesTests {
    static func document() throws -> JSONValue {
        try JSONParser.parse(OCIFeatures.json(version: "0.9.0", seccomp: OCIFeatures.Seccomp(enabled: false)))
    }

    @Test("time namespaces (where the kernel has them), net devices, and envyro's extras by name")
    func listed() throws {
        let d = try Self.document()
        let namespaces = d["linux"]?["namespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(namespaces.contains("time") == OCIFeatures.timeNamespacesAvailable)
        #expect(d["linux"]?["netDevices"] == ["enabled": true])
        let a = d["annotations"]
        #expect(a?["io.github.envyro.process.ioPriority"] == "IOPRIO_CLASS_RT,IOPRIO_CLASS_BE,IOPRIO_CLASS_IDLE")
        #expect(a?["io.github.envyro.linux.personality"] == "LINUX,LINUX32")
        #expect(a?["io.github.envyro.annotations"] == "run.oci.keep_original_groups")
        if OCIFeatures.timeNamespacesAvailable { #expect(a?["io.github.envyro.linux.timeOffsets"] == "monotonic,boottime") }
    }

    @Test("Every listed I/O class, personality domain and clock is accepted by the config reader")
    func listedIsAccepted() throws {
        for (name, _) in OCIConfig.IOPriority.classes {
            _ = try parse(setting(baseDocument(), "process.ioPriority", ["class": .string(name), "priority": 0]))
        }
        for (name, _) in OCIConfig.Personality.domains {
            _ = try parse(setting(baseDocument(), "linux.personality", ["domain": .string(name)]))
        }
        var d = setting(baseDocument(), "linux.namespaces.6", ["type": "time"])
        for clock in OCIConfig.TimeOffset.clocks { d = setting(d, "linux.timeOffsets.\(clock)", ["secs": 1]) }
        #expect(try parse(d).linux?.timeOffsets.count == 2)
    }
}
