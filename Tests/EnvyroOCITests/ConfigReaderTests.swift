import EnvyroJSON
import EnvyroOCI
import Testing

@Suite("Reading configs that engines and tools write")
struct GeneratedConfigTests {
    @Test("podman 4.3's config for a root busybox container is accepted in full")
    func podman() throws {
        let config = try OCIConfig.parse(text: Fixtures.podman)
        #expect(config.ociVersion == "1.0.2-dev")
        #expect(config.root.readonly == false)
        #expect(config.hostname == "8d2b6c0f3e6a")
        #expect(config.annotations.count == 8)
        #expect(config.annotations.first?.key == "io.container.manager")
        #expect(config.annotations["io.podman.annotations.autoremove"] == "TRUE")
        #expect(config.mounts.count == 11)
        #expect(config.mounts[5].type == "bind")
        #expect(config.mounts[8].options == ["bind", "rprivate", "nosuid", "noexec", "nodev"])

        let process = try #require(config.process)
        #expect(process.args == ["true"])
        #expect(process.user.umask == 0o022)
        #expect(process.user.additionalGids == [0, 1, 2, 3, 4, 6, 10, 11, 20, 26, 27])
        #expect(process.capabilities?.bounding.count == 11)
        #expect(process.capabilities?.ambient == [])
        #expect(process.rlimits.map(\.resource) == [7, 6])
        #expect(process.rlimits[0].hard == 1_048_576)
        #expect(process.oomScoreAdj == 0)
        #expect(process.noNewPrivileges == false)

        let linux = try #require(config.linux)
        #expect(linux.namespaces.map(\.type) == [.pid, .network, .ipc, .uts, .mount, .cgroup])
        #expect(linux.cgroupsPath == "/libpod_parent/libpod-\(Fixtures.podmanID)")
        #expect(linux.resources?.devices == [OCIConfig.DeviceRule(allow: false, access: "rwm")])
        #expect(linux.resources?.pids == OCIConfig.Pids(limit: 2048))
        #expect(linux.sysctl == [OCIKeyValue("net.ipv4.ping_group_range", "0 0")])
        #expect(linux.seccomp?["defaultAction"] == "SCMP_ACT_ERRNO")
        #expect(linux.maskedPaths.contains("/sys/dev/block"))
        #expect(linux.readonlyPaths.first == "/proc/asound")
    }

    @Test("containerd 1.6's default spec from ctr run is accepted in full")
    func containerd() throws {
        let config = try OCIConfig.parse(text: Fixtures.containerd)
        #expect(config.root == OCIConfig.Root(path: "rootfs", readonly: false))
        #expect(config.hostname == nil)
        #expect(config.mounts.last?.destination == "/run")
        let linux = try #require(config.linux)
        #expect(linux.cgroupsPath == "/default/demo")
        #expect(linux.resources?.devices.count == 11)
        #expect(linux.resources?.devices[8] == OCIConfig.DeviceRule(allow: true, type: "c", major: 136, access: "rwm"))
        #expect(linux.namespaces.last?.type == .network)
        #expect(linux.seccomp == nil)
        #expect(config.process?.capabilities?.bounding.contains("CAP_MKNOD") == true)
    }

    @Test("runc spec --rootless is accepted with its user namespace and id maps")
    func runcRootless() throws {
        let config = try OCIConfig.parse(text: Fixtures.runcRootless)
        let linux = try #require(config.linux)
        #expect(linux.uidMappings == [OCIConfig.IDMapping(containerID: 0, hostID: 1000, size: 1)])
        #expect(linux.namespace(.user) != nil)
        #expect(linux.namespace(.network) == nil)
        #expect(linux.resources == nil)
        #expect(try config.mounts[5].lowered().isBind)
    }

    @Test("crun spec, captured on this machine, is accepted")
    func crun() throws {
        let config = try OCIConfig.parse(text: Fixtures.crun)
        #expect(config.hostname == "crun")
        #expect(config.process?.capabilities?.inheritable == [])
        #expect(config.linux?.namespaces.count == 5)
    }

    @Test("A config is loaded from <bundle>/config.json")
    func load() throws {
        let bundle = TemporaryBundle()
        defer { bundle.cleanup() }
        bundle.write("config.json", Fixtures.containerd)
        let config = try OCIConfig.load(bundle: bundle.path)
        #expect(config.linux?.cgroupsPath == "/default/demo")
    }

    @Test("A bundle without config.json fails with the file's path and the errno text")
    func loadMissing() {
        let bundle = TemporaryBundle()
        defer { bundle.cleanup() }
        #expect {
            try OCIConfig.load(bundle: bundle.path)
        } throws: { error in
            let text = String(describing: error)
            return text.hasPrefix("config.json: cannot open \(bundle.path)/config.json") && text.contains("No such file")
        }
    }
}

@Suite("Refusing what envyro does not do")
struct RefusedConfigTests {
    static let refused: [ConfigChange] = [
        .init("a Windows section", "windows", ["layerFolders": ["C:\\a"]], reason: "not a Linux config"),
        .init("a Solaris section", "solaris", ["milestone": "x"], reason: "not a Linux config"),
        .init("a VM section", "vm", ["kernel": ["path": "/k"]], reason: "virtual-machine containers are not supported"),
        .init("a z/OS section", "zos", ["devices": [["path": "/d"]]], reason: "not a Linux config"),
        .init("a user name", "process.user.username", "root", reason: "username is for Windows"),
        .init("a Windows command line", "process.commandLine", "cmd /c dir", reason: "commandLine is for Windows"),
        .init("a scheduler", "process.scheduler", ["policy": "SCHED_FIFO"], reason: "not supported by envyro"),
        .init("an exec CPU affinity", "process.execCPUAffinity", ["initial": "0"], reason: "not supported by envyro"),
        .init("an AppArmor profile", "process.apparmorProfile", "containers-default-0.50.0",
              reason: "AppArmor is not supported by envyro"),
        .init("an SELinux label", "process.selinuxLabel", "system_u:system_r:container_t:s0", reason: "SELinux is not supported"),
        .init("a mount label", "linux.mountLabel", "system_u:object_r:container_file_t:s0", reason: "SELinux is not supported"),
        .init("Intel RDT", "linux.intelRdt", ["closID": "x"], reason: "Intel RDT is not supported"),
        .init("a memory policy", "linux.memoryPolicy", ["mode": "MPOL_BIND"], reason: "memory policy is not supported"),
        .init("a network cgroup", "linux.resources.network", ["classID": 1], reason: "network classID and priorities"),
        .init("an rdma cgroup", "linux.resources.rdma", ["mlx5_1": ["hcaHandles": 3]], reason: "rdma cgroup is not supported"),
        .init("tmpcopyup", "mounts.1.options", ["tmpcopyup"], errorPath: "mounts[1].options[0]", reason: "'tmpcopyup'"),
    ]

    @Test("A field envyro can't honour is refused by name", arguments: refused)
    func refusedByName(_ change: ConfigChange) throws {
        let error = try #require(parseError(setting(baseDocument(), change.path, change.value)))
        #expect(error.path == change.errorPath)
        #expect(error.reason.contains(change.reason), "\(error)")
        #expect(error.description == "config.json: \(change.errorPath): \(error.reason)")
    }

    static let messages: [(String, JSONValue, String)] = [
        ("linux.resources.rdma", ["mlx5_1": ["hcaHandles": 3]],
         "config.json: linux.resources.rdma: the rdma cgroup is not supported by envyro"),
        ("windows", ["layerFolders": []], "config.json: windows: not a Linux config"),
        ("process.apparmorProfile", "unconfined",
         "config.json: process.apparmorProfile: AppArmor is not supported by envyro (profile 'unconfined')"),
        ("linux.hugepageLimit", [], "config.json: linux.hugepageLimit: unknown key"),
        ("linux.resources.hugepageLimit", [], "config.json: linux.resources.hugepageLimit: unknown key (did you mean 'hugepageLimits'?)"),
        ("linux.intelRDT", ["closID": "x"], "config.json: linux.intelRDT: unknown key (did you mean 'intelRdt'?)"),
    ]

    @Test("Messages read as one line naming the file, the path and the reason", arguments: messages)
    func message(_ path: String, _ value: JSONValue, _ expected: String) throws {
        let error = try #require(parseError(setting(baseDocument(), path, value)))
        #expect(error.description == expected)
    }

    static let empty: [(String, JSONValue)] = [
        ("process.apparmorProfile", ""),
        ("process.selinuxLabel", ""),
        ("linux.mountLabel", ""),
        ("linux.intelRdt", [:]),
        ("linux.resources.rdma", [:]),
        ("windows", .null),
        ("process.user.username", ""),
    ]

    @Test("A refused field that asks for nothing (empty or null) is accepted", arguments: empty)
    func emptyRefusedFields(_ path: String, _ value: JSONValue) throws {
        _ = try parse(setting(baseDocument(), path, value))
    }
}

@Suite("Strict checking of every key")
struct StrictConfigTests {
    static let broken: [ConfigChange] = [
        .init("an unknown top-level key", "extra", 1, reason: "unknown key"),
        .init("a misspelt top-level key", "hostnme", "x", reason: "unknown key (did you mean 'hostname'?)"),
        .init("an unknown process key", "process.tty", true, reason: "unknown key"),
        .init("a misspelt linux key", "linux.maskPaths", ["/x"], reason: "did you mean 'maskedPaths'?"),
        .init("an unknown resources key", "linux.resources.memry", [:], reason: "did you mean 'memory'?"),
        .init("an unknown memory key", "linux.resources.memory.max", 1, reason: "unknown key"),
        .init("an unknown key in a mount", "mounts.0.flags", 1, errorPath: "mounts[0].flags", reason: "unknown key"),
        .init("an unknown key in a hook", "hooks.poststart.0.pth", "/x", errorPath: "hooks.poststart[0].pth", reason: "did you mean 'path'?"),
        .init("an unknown hook kind", "hooks.prestop", [["path": "/bin/true"]], reason: "unknown key"),
        .init("an old major version", "ociVersion", "0.6.0", reason: "not a 1.x runtime-spec version"),
        .init("a missing ociVersion", "ociVersion", nil, reason: "required"),
        .init("a missing root", "root", nil, reason: "required"),
        .init("an empty root path", "root.path", "", reason: "must not be empty"),
        .init("a string root readonly", "root.readonly", "yes", reason: "must be a boolean"),
        .init("an empty args list", "process.args", [], reason: "must not be empty"),
        .init("missing args", "process.args", nil, reason: "required"),
        .init("a number in args", "process.args", ["sh", 1], errorPath: "process.args[1]", reason: "must be a string"),
        .init("an env entry without '='", "process.env.0", "PATH", errorPath: "process.env[0]", reason: "is not NAME=value"),
        .init("a relative cwd", "process.cwd", "tmp", reason: "must be an absolute path"),
        .init("a missing cwd", "process.cwd", nil, reason: "required"),
        .init("a missing user", "process.user", nil, reason: "required"),
        .init("a negative uid", "process.user.uid", -1, reason: "must be an integer from 0 to 4294967295"),
        .init("a fractional gid", "process.user.gid", 1.5, reason: "must be an integer"),
        .init("a uid over 32 bits", "process.user.uid", 4_294_967_296, reason: "must be an integer"),
        .init("a umask over 0777", "process.user.umask", 4096, reason: "at most 0777"),
        .init("an unknown capability", "process.capabilities.bounding.3", "CAP_SYS_ADMINN",
              errorPath: "process.capabilities.bounding[3]", reason: "did you mean 'CAP_SYS_ADMIN'?"),
        .init("a capability listed twice", "process.capabilities.effective.3", "CAP_KILL",
              errorPath: "process.capabilities.effective[3]", reason: "listed twice"),
        .init("an unknown rlimit", "process.rlimits.0.type", "RLIMIT_FOO", errorPath: "process.rlimits[0].type", reason: "unknown resource limit"),
        .init("a soft rlimit above the hard one", "process.rlimits.0.soft", 2048, errorPath: "process.rlimits[0].soft",
              reason: "above the hard limit"),
        .init("an rlimit set twice", "process.rlimits.1", ["type": "RLIMIT_NOFILE", "hard": 1, "soft": 1],
              errorPath: "process.rlimits[1].type", reason: "set twice"),
        .init("an oomScoreAdj out of range", "process.oomScoreAdj", 1001, reason: "not between -1000 and 1000"),
        .init("a console size over 16 bits", "process.consoleSize", ["height": 70000, "width": 80],
              errorPath: "process.consoleSize.height", reason: "must be an integer from 0 to 65535"),
        .init("a relative hook path", "hooks.prestart.0.path", "hook", errorPath: "hooks.prestart[0].path", reason: "absolute path"),
        .init("a zero hook timeout", "hooks.poststop.0", ["path": "/bin/true", "timeout": 0], errorPath: "hooks.poststop[0].timeout",
              reason: "greater than zero"),
        .init("a hook list that is an object", "hooks.poststart", ["path": "/x"], reason: "must be an array of objects"),
        .init("an unknown namespace type", "linux.namespaces.0.type", "pidns", errorPath: "linux.namespaces[0].type",
              reason: "'pidns' is not one of: pid, network, mount, ipc, uts, user, cgroup, time"),
        .init("a namespace listed twice", "linux.namespaces.6", ["type": "pid"], errorPath: "linux.namespaces[6].type", reason: "listed twice"),
        .init("a relative namespace path", "linux.namespaces.1.path", "ns/net", errorPath: "linux.namespaces[1].path", reason: "absolute path"),
        .init("id maps without a user namespace", "linux.uidMappings", [["containerID": 0, "hostID": 1000, "size": 1]],
              reason: "needs a user namespace"),
        .init("an unknown device type", "linux.devices", [["type": "x", "path": "/dev/x", "major": 1, "minor": 1]],
              errorPath: "linux.devices[0].type", reason: "is not one of: c, b, u, p"),
        .init("a character device without a major", "linux.devices", [["type": "c", "path": "/dev/x", "minor": 1]],
              errorPath: "linux.devices[0].major", reason: "required"),
        .init("a device rule with bad access", "linux.resources.devices.0.access", "rwx", errorPath: "linux.resources.devices[0].access",
              reason: "r, w and m"),
        .init("a swappiness over 100", "linux.resources.memory", ["swappiness": 101], errorPath: "linux.resources.memory.swappiness",
              reason: "above 100"),
        .init("a pids section without a limit", "linux.resources.pids", [:], errorPath: "linux.resources.pids.limit", reason: "required"),
        .init("a blockIO weight over 16 bits", "linux.resources.blockIO", ["weight": 70000], errorPath: "linux.resources.blockIO.weight",
              reason: "must be an integer"),
        .init("a seccomp profile that is a list", "linux.seccomp", [], reason: "must be an object"),
        .init("a sysctl value that is a number", "linux.sysctl", ["net.core.somaxconn": 1024],
              errorPath: "linux.sysctl.net.core.somaxconn", reason: "must be a string"),
        .init("a relative masked path", "linux.maskedPaths.0", "proc/kcore", errorPath: "linux.maskedPaths[0]", reason: "absolute path"),
        .init("an unknown rootfs propagation", "linux.rootfsPropagation", "recursive", reason: "is not one of: private, rprivate"),
        .init("an annotation that is a number", "annotations", ["a": 1], errorPath: "annotations.a", reason: "must be a string"),
        .init("a relative mount destination", "mounts.0.destination", "proc", errorPath: "mounts[0].destination",
              reason: "must be an absolute path"),
        .init("a mount destination with '..'", "mounts.0.destination", "/proc/../etc", errorPath: "mounts[0].destination",
              reason: "must not contain '..'"),
        .init("two different propagation options", "mounts.1.options", ["rprivate", "rshared"], errorPath: "mounts[1].options[1]",
              reason: "one propagation option per mount"),
    ]

    @Test("A bad value fails with an error that names its JSON path", arguments: broken)
    func brokenValue(_ change: ConfigChange) throws {
        var document = baseDocument()
        if change.path.hasPrefix("hooks.") && !change.label.contains("unknown hook kind") {
            document = setting(document, "hooks", ["prestart": [["path": "/bin/true"]],
                                                   "poststart": [["path": "/bin/true"]],
                                                   "poststop": [["path": "/bin/true"]]])
        }
        let error = try #require(parseError(setting(document, change.path, change.value)), "\(change.label) was accepted")
        #expect(error.path == change.errorPath, "\(error)")
        #expect(error.reason.contains(change.reason), "\(error)")
    }

    @Test("Text that is not JSON, or not an object, fails for the whole document")
    func notJSON() {
        #expect(throws: OCIError.self) { try OCIConfig.parse(text: "{\"ociVersion\": ") }
        #expect {
            try OCIConfig.parse(text: "[]")
        } throws: { error in
            (error as? OCIError) == OCIError(path: "", reason: "the document must be a JSON object")
        }
    }

    @Test("A null value counts as absent")
    func nullIsAbsent() throws {
        var document = setting(baseDocument(), "hooks", .null)
        document = setting(document, "linux.seccomp", .null)
        document = setting(document, "hostname", .null)
        let config = try parse(document)
        #expect(config.hooks == nil)
        #expect(config.linux?.seccomp == nil)
        #expect(config.hostname == nil)
    }

    @Test("RLIM_INFINITY, written as 2^64-1, is read back as UInt64.max")
    func infiniteRlimit() throws {
        let text = Fixtures.containerd.replacing(
            #""hard": 1024, "soft": 1024"#, with: #""hard": 18446744073709551615, "soft": 18446744073709551615"#)
        let config = try OCIConfig.parse(text: text)
        #expect(config.process?.rlimits.first?.hard == UInt64.max)
        #expect(config.process?.rlimits.first?.soft == UInt64.max)
    }

    @Test("Every Linux section envyro models is read into the config")
    func fullLinuxSection() throws {
        var d = baseDocument()
        d = setting(d, "hooks", [
            "createRuntime": [["path": "/usr/bin/hook", "args": ["hook", "create"], "env": ["A=1"], "timeout": 5]],
            "poststop": [["path": "/usr/bin/hook"]],
        ])
        d = setting(d, "domainname", "example.org")
        d = setting(d, "process.consoleSize", ["height": 24, "width": 80])
        d = setting(d, "process.capabilities.inheritable", ["CAP_CHECKPOINT_RESTORE"])
        d = setting(d, "linux.namespaces.6", ["type": "user"])
        d = setting(d, "linux.namespaces.1.path", "/proc/1/ns/net")
        d = setting(d, "linux.uidMappings", [["containerID": 0, "hostID": 100000, "size": 65536]])
        d = setting(d, "linux.gidMappings", [["containerID": 0, "hostID": 100000, "size": 65536]])
        d = setting(d, "linux.devices", [["type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0],
                                         ["type": "p", "path": "/dev/fifo"]])
        d = setting(d, "linux.rootfsPropagation", "rslave")
        d = setting(d, "linux.resources.memory", ["limit": 536_870_912, "reservation": -1, "swap": 1_073_741_824, "kernel": -1,
                                                  "kernelTCP": -1, "swappiness": 60, "disableOOMKiller": false,
                                                  "useHierarchy": true, "checkBeforeUpdate": true])
        d = setting(d, "linux.resources.cpu", ["shares": 1024, "quota": 50000, "burst": 0, "period": 100_000,
                                               "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "0-1", "mems": "0", "idle": 0])
        d = setting(d, "linux.resources.blockIO", [
            "weight": 500, "leafWeight": 300,
            "weightDevice": [["major": 8, "minor": 0, "weight": 600]],
            "throttleReadBpsDevice": [["major": 8, "minor": 0, "rate": 1_048_576]],
            "throttleWriteIOPSDevice": [["major": 8, "minor": 16, "rate": 100]],
        ])
        d = setting(d, "linux.resources.hugepageLimits", [["pageSize": "2MB", "limit": 209_715_200]])
        d = setting(d, "linux.resources.unified", ["memory.high": "400M", "io.weight": "default 100"])
        let config = try parse(d)
        #expect(config.domainname == "example.org")
        #expect(config.hooks?[.createRuntime] == [OCIConfig.Hook(path: "/usr/bin/hook", args: ["hook", "create"], env: ["A=1"], timeout: 5)])
        #expect(config.hooks?[.poststop].count == 1)
        #expect(config.hooks?[.prestart] == [])
        #expect(config.process?.consoleSize == OCIConfig.ConsoleSize(height: 24, width: 80))
        let linux = try #require(config.linux)
        #expect(linux.namespace(.network)?.path == "/proc/1/ns/net")
        // The joined network namespace is not created.
        #expect(linux.cloneFlags == 0x2000_0000 | 0x0800_0000 | 0x0400_0000 | 0x0002_0000 | 0x0200_0000 | 0x1000_0000)
        #expect(linux.gidMappings.first?.size == 65536)
        #expect(linux.devices[0].fileMode == 0o666)
        #expect(linux.devices[1].major == nil)
        #expect(try linux.rootfsPropagationFlags() == (1 << 19) | 0x4000)
        let resources = try #require(linux.resources)
        #expect(resources.memory?.limit == 536_870_912)
        #expect(resources.memory?.reservation == -1)
        #expect(resources.memory?.checkBeforeUpdate == true)
        #expect(resources.cpu?.cpus == "0-1")
        #expect(resources.cpu?.quota == 50000)
        #expect(resources.blockIO?.weightDevice == [OCIConfig.WeightDevice(major: 8, minor: 0, weight: 600)])
        #expect(resources.blockIO?.throttleReadBpsDevice.first?.rate == 1_048_576)
        #expect(resources.blockIO?.throttleWriteIOPSDevice.first?.minor == 16)
        #expect(resources.hugepageLimits == [OCIConfig.HugepageLimit(pageSize: "2MB", limit: 209_715_200)])
        #expect(resources.unified.map(\.key) == ["memory.high", "io.weight"])
    }
}
