import EnvyroJSON
import EnvyroOCI
import Testing

@Suite("The features document")
struct FeaturesTests {
    static let seccomp = OCIFeatures.Seccomp(
        enabled: true, actions: ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"], operators: ["SCMP_CMP_EQ"],
        archs: ["SCMP_ARCH_X86_64"], knownFlags: ["SECCOMP_FILTER_FLAG_TSYNC"], supportedFlags: ["SECCOMP_FILTER_FLAG_TSYNC"])

    static func document() throws -> JSONValue {
        try JSONParser.parse(OCIFeatures.json(version: "0.9.0", seccomp: seccomp))
    }

    static func list(_ value: JSONValue?) -> [String] {
        value?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    @Test("It names the spec versions, envyro's version and what is off")
    func shape() throws {
        let d = try Self.document()
        #expect(d["ociVersionMin"] == "1.0.0")
        #expect(d["ociVersionMax"] == "1.1.0")
        #expect(d["annotations"]?["io.github.envyro.version"] == "0.9.0")
        #expect(d["linux"]?["cgroup"] == ["v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false])
        #expect(d["linux"]?["apparmor"] == ["enabled": false])
        #expect(d["linux"]?["selinux"] == ["enabled": false])
        #expect(d["linux"]?["seccomp"]?["enabled"] == true)
        #expect(Self.list(d["linux"]?["seccomp"]?["archs"]) == ["SCMP_ARCH_X86_64"])
        #expect(Self.list(d["hooks"]) == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
        #expect(Self.list(d["linux"]?["capabilities"]).count == 41)
    }

    @Test("Every listed mount option is accepted by the lowering and none is passed on as data")
    func mountOptions() throws {
        let options = Self.list(try Self.document()["mountOptions"])
        #expect(options.count == OCIMountOptions.recognized.count)
        for option in options {
            let lowered = try OCIConfig.Mount(destination: "/x", type: "bind", source: "/y", options: [option]).lowered()
            #expect(lowered.data == "", "\(option) went to data")
        }
        #expect(Set(options).isDisjoint(with: OCIMountOptions.refusedNames))
    }

    @Test("Every listed namespace type is accepted by the config reader")
    func namespaces() throws {
        for name in Self.list(try Self.document()["linux"]?["namespaces"]) {
            var d = setting(baseDocument(), "linux.namespaces", [["type": .string(name)]])
            if name == "user" {
                d = setting(d, "linux.uidMappings", [["containerID": 0, "hostID": 1000, "size": 1]])
            }
            let config = try parse(d)
            #expect(config.linux?.namespaces.map(\.type.rawValue) == [name])
        }
    }

    @Test("Every listed capability and hook kind is accepted by the config reader")
    func capabilitiesAndHooks() throws {
        let d = try Self.document()
        let capabilities = Self.list(d["linux"]?["capabilities"])
        var doc = setting(baseDocument(), "process.capabilities", ["bounding": .array(capabilities.map { .string($0) })])
        var hooks = JSONObject()
        for kind in Self.list(d["hooks"]) { hooks[kind] = [["path": "/bin/true"]] }
        doc = setting(doc, "hooks", .object(hooks))
        let config = try parse(doc)
        #expect(config.process?.capabilities?.bounding == capabilities)
        for kind in OCIConfig.HookKind.allCases { #expect(config.hooks?[kind].count == 1) }
    }

    @Test("Without seccomp support only 'enabled: false' is listed")
    func seccompOff() throws {
        let d = try JSONParser.parse(OCIFeatures.json(version: "x", seccomp: .init(enabled: false)))
        #expect(d["linux"]?["seccomp"] == ["enabled": false])
    }

    @Test("Capability numbers follow the kernel's order")
    func capabilityNumbers() {
        #expect(OCICapabilities.number(of: "CAP_CHOWN") == 0)
        #expect(OCICapabilities.number(of: "CAP_SYS_ADMIN") == 21)
        #expect(OCICapabilities.number(of: "CAP_AUDIT_READ") == 37)
        #expect(OCICapabilities.number(of: "CAP_CHECKPOINT_RESTORE") == 40)
        #expect(OCICapabilities.number(of: "CAP_NOPE") == nil)
        #expect(OCICapabilities.mask(of: ["CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"]) == 1 | 1 << 5 | 1 << 40)
        #expect(OCIRlimits.resource(of: "RLIMIT_RTTIME") == 15)
        #expect(OCIRlimits.resource(of: "RLIMIT_MEMLOCK") == 8)
    }
}

@Suite("envyro spec")
struct SpecTests {
    @Test("The default config parses with envyro's own reader", arguments: [false, true])
    func defaultParses(_ rootless: Bool) throws {
        let config = try OCIConfig.parse(text: OCISpec.defaultConfig(rootless: rootless, uid: 1000, gid: 1001))
        #expect(config.ociVersion == "1.0.2")
        #expect(config.root == OCIConfig.Root(path: "rootfs", readonly: true))
        #expect(config.hostname == "envyro")
        let process = try #require(config.process)
        #expect(process.terminal)
        #expect(process.args == ["sh"])
        #expect(process.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"])
        #expect(process.capabilities?.ambient == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        #expect(process.capabilities?.inheritable == [])
        #expect(process.rlimits == [OCIConfig.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)])
        #expect(process.noNewPrivileges)
        let linux = try #require(config.linux)
        #expect(linux.maskedPaths == OCISpec.defaultMaskedPaths)
        #expect(linux.readonlyPaths == OCISpec.defaultReadonlyPaths)
        #expect(config.mounts.map(\.destination) == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"])
        for mount in config.mounts { _ = try mount.lowered() }
    }

    @Test("The root variant has a network namespace and a deny-all device rule")
    func rootVariant() throws {
        let config = try OCIConfig.parse(text: OCISpec.defaultConfig(rootless: false))
        let linux = try #require(config.linux)
        #expect(linux.namespaces.map(\.type) == [.pid, .network, .ipc, .uts, .mount, .cgroup])
        #expect(linux.resources?.devices == [OCIConfig.DeviceRule(allow: false, access: "rwm")])
        #expect(linux.uidMappings.isEmpty)
        #expect(config.mounts[2].options.contains("gid=5"))
        #expect(config.mounts[5].type == "sysfs")
    }

    @Test("The rootless variant maps root to the caller and binds the host's /sys")
    func rootlessVariant() throws {
        let config = try OCIConfig.parse(text: OCISpec.defaultConfig(rootless: true, uid: 1000, gid: 1001))
        let linux = try #require(config.linux)
        #expect(linux.namespaces.map(\.type) == [.pid, .ipc, .uts, .mount, .cgroup, .user])
        #expect(linux.uidMappings == [OCIConfig.IDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(linux.gidMappings == [OCIConfig.IDMapping(containerID: 0, hostID: 1001, size: 1)])
        #expect(linux.resources == nil)
        #expect(!config.mounts.contains { $0.options.contains { $0.hasPrefix("gid=") || $0.hasPrefix("uid=") } })
        let sys = try config.mounts[5].lowered()
        #expect(sys.isBind)
        #expect(sys.source == "/sys")
        #expect(sys.flags == 4096 | 0x4000 | 1 | 2 | 4 | 8)
    }

    @Test("The rootless default has the same shape as runc spec --rootless")
    func matchesRunc() throws {
        let ours = try OCIConfig.parse(text: OCISpec.defaultConfig(rootless: true, uid: 1000, gid: 1000))
        var runc = try OCIConfig.parse(text: Fixtures.runcRootless)
        runc.ociVersion = ours.ociVersion
        runc.hostname = ours.hostname
        #expect(ours == runc)
    }
}
