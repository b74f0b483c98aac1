// config.json lowered to the helper's oci_create request: what a bundle asks for is carried out
// or refused by its JSON path. Bundles are `runc spec`'s default (EnvyroOCI's OCISpec), changed
// one field at a time. Unprivileged: nothing is created but a rootfs directory.
import EnvyroOCI
import EnvyroProtocol
import Glibc
import Testing
@testable import EnvyroOCIRuntime

/// One change to the default bundle, for a table.
struct BundleChange: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let change: @Sendable (inout OCIConfig) -> Void
    init(_ label: String, _ change: @escaping @Sendable (inout OCIConfig) -> Void) {
        testDescription = label
        self.change = change
    }
}

/// A bundle directory with an empty rootfs, removed at the end of the test.
final class Bundle {
    let path: String
    init() {
        var template = Array("/tmp/envyro-lowering-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        mkdir(path + "/rootfs", 0o755)
    }
    deinit { rmdir(path + "/rootfs"); rmdir(path) }

    /// The default config.json (runc spec), read by the strict reader, then `change`d.
    func config(_ change: (inout OCIConfig) -> Void = { _ in }) throws -> OCIConfig {
        var c = try OCIConfig.parse(text: OCISpec.document(rootless: false).serialized())
        change(&c)
        return c
    }

    func lower(_ change: (inout OCIConfig) -> Void = { _ in }) throws -> OCILowered {
        try OCILowering.lower(try config(change), bundle: path, id: "c1", stateRoot: "/run/envyro/oci")
    }
}

@Suite("config.json lowering")
struct LoweringTests {
    @Test("the default bundle lowers whole: namespaces, rootfs, process, mounts, devices, rules")
    func defaultBundle() throws {
        let bundle = Bundle()
        let r = try bundle.lower().request
        #expect(r.id == "c1")
        #expect(r.base.namespaces == [.pid, .network, .ipc, .uts, .mount, .cgroup])
        #expect(r.base.network == .none)
        #expect(r.base.hostname == "envyro")
        #expect(r.base.rootfs.hasSuffix("/rootfs"))
        #expect(!r.base.rootfsWritable)
        #expect(r.process.argv == ["sh"])
        #expect(r.process.terminal && r.hasConsole)
        #expect(r.process.noNewPrivileges)
        // runc spec's ambient set is dropped: its inheritable set is empty.
        #expect(r.process.capBounding != 0 && r.process.capAmbient == 0)
        #expect(r.mounts.map(\.destination).first == "/proc")
        #expect(r.devices.map(\.path) == OCILowering.defaultDevices.map(\.0))
        #expect(r.deviceRules == ["deny a *:* rwm"] + OCILowering.defaultDeviceRules)
        #expect(r.cgroup == OCILowering.cgroupName(id: "c1", root: "/run/envyro/oci"))
        #expect(r.joinNamespaces.isEmpty)
    }

    @Test("limits, devices and namespaces a bundle asks for reach the request")
    func carriedOut() throws {
        let bundle = Bundle()
        let r = try bundle.lower { c in
            c.linux?.resources = .init(memory: .init(limit: 256 << 20, swap: 512 << 20), cpu: .init(shares: 512, quota: 50_000, period: 100_000, cpus: "0"),
                                       pids: .init(limit: 64), hugepageLimits: [.init(pageSize: "2MB", limit: 0)],
                                       unified: [OCIKeyValue("cgroup.max.depth", "3")])
            c.linux?.devices = [.init(type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o600)]
            c.linux?.namespaces.append(.init(type: .user))
            c.linux?.namespaces.removeAll { $0.type == .network }
            c.linux?.uidMappings = [.init(containerID: 0, hostID: 100_000, size: 65536)]
            c.process?.user = .init(uid: 1, gid: 2, umask: 0o22, additionalGids: [3])
        }.request
        #expect(r.base.limits.memoryMax == 256 << 20)
        #expect(r.base.limits.memorySwapMax == 512 << 20)
        #expect(r.base.limits.cpuShares == 512 && r.base.limits.cpuQuotaMicros == 50_000 && r.base.limits.cpuPeriodMicros == 100_000)
        #expect(r.base.limits.cpusetCpus == "0")
        #expect(r.base.limits.pidsMax == 64)
        #expect(r.hugepageLimits == ["2MB=0"])
        #expect(r.unified == ["cgroup.max.depth=3"])
        #expect(r.devices.filter { $0.path == "/dev/null" }.map(\.mode) == [0o020000 | 0o600])
        #expect(r.base.namespaces.contains(.user) && !r.base.namespaces.contains(.network))
        #expect(r.base.network == .host)
        #expect(r.base.uidMappings.map(\.count) == [65536])
        #expect(r.process.uid == 1 && r.process.gid == 2 && r.process.umask == 0o22 && r.process.additionalGids == [3])
    }

    @Test("a namespace with a path is joined, not created")
    func joined() throws {
        let bundle = Bundle()
        let r = try bundle.lower { c in
            c.linux?.namespaces.removeAll { $0.type == .network }
            c.linux?.namespaces.append(.init(type: .network, path: "/proc/1/ns/net"))
        }.request
        #expect(!r.base.namespaces.contains(.network))
        #expect(r.joinNamespaces.map(\.1) == ["/proc/1/ns/net"])
    }

    @Test("an ambient capability that is not both permitted and inheritable is dropped, as runc does")
    func ambientDropped() throws {
        let bundle = Bundle()
        let p = try bundle.lower { c in
            c.process?.capabilities = .init(bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_CHOWN"], inheritable: ["CAP_CHOWN"],
                                            permitted: ["CAP_CHOWN", "CAP_KILL"], ambient: ["CAP_CHOWN", "CAP_KILL"])
        }.request.process
        #expect(p.capAmbient == 1 << 0)   // CAP_CHOWN is 0; CAP_KILL is not inheritable
        #expect(p.capPermitted == 1 << 0 | 1 << 5)
    }

    @Test("the hooks are kept by kind for the CLI to run")
    func hooks() throws {
        let bundle = Bundle()
        let h = try bundle.lower { c in
            c.hooks = OCIConfig.Hooks([.createRuntime: [.init(path: "/bin/a")], .poststop: [.init(path: "/bin/b", args: ["b", "1"], timeout: 3)]])
        }.hooks
        #expect(h.createRuntime.map(\.path) == ["/bin/a"])
        #expect(h.poststop.map(\.timeout) == [3])
        #expect(h.prestart.isEmpty && h.startContainer.isEmpty && h.poststart.isEmpty && h.createContainer.isEmpty)
    }

    static let refusals: [(BundleChange, String, String)] = [
        (.init("no process") { $0.process = nil }, "process", "missing"),
        (.init("rootfs missing") { $0.root.path = "nope" }, "root.path", "is not a directory"),
        (.init("no mount namespace") { $0.linux?.namespaces.removeAll { $0.type == .mount } }, "linux.namespaces", "envyro needs a new mount namespace"),
        (.init("mount namespace joined") { c in
            c.linux?.namespaces.removeAll { $0.type == .mount }
            c.linux?.namespaces.append(.init(type: .mount, path: "/proc/1/ns/mnt"))
         }, "linux.namespaces[5].path", "joining a mount namespace is not supported"),
        (.init("id maps without a user namespace") { $0.linux?.uidMappings = [.init(containerID: 0, hostID: 1000, size: 1)] },
         "linux.uidMappings", "id mappings need a new user namespace"),
        (.init("hostname without uts") { $0.linux?.namespaces.removeAll { $0.type == .uts } }, "hostname", "needs a new uts namespace"),
        (.init("unknown capability") { $0.process?.capabilities?.effective.append("CAP_NOPE") }, "process.capabilities.effective", "unknown capability CAP_NOPE"),
        (.init("memory reservation") { $0.linux?.resources?.memory = .init(reservation: 1) }, "linux.resources.memory.reservation", "not supported"),
        (.init("kernel memory") { $0.linux?.resources?.memory = .init(kernel: 1) }, "linux.resources.memory.kernel", "deprecated in the kernel"),
        (.init("kernel TCP memory") { $0.linux?.resources?.memory = .init(kernelTCP: 1) }, "linux.resources.memory.kernelTCP", "not supported"),
        (.init("OOM killer off") { $0.linux?.resources?.memory = .init(disableOOMKiller: true) }, "linux.resources.memory.disableOOMKiller", "not supported"),
        (.init("swappiness") { $0.linux?.resources?.memory = .init(swappiness: 60) }, "linux.resources.memory.swappiness", "not supported"),
        (.init("realtime runtime") { $0.linux?.resources?.cpu = .init(realtimeRuntime: 1) }, "linux.resources.cpu.realtimeRuntime", "not supported"),
        (.init("realtime period") { $0.linux?.resources?.cpu = .init(realtimePeriod: 1) }, "linux.resources.cpu.realtimePeriod", "not supported"),
        (.init("cpu burst") { $0.linux?.resources?.cpu = .init(burst: 1) }, "linux.resources.cpu.burst", "not supported"),
        (.init("cpu idle") { $0.linux?.resources?.cpu = .init(idle: 1) }, "linux.resources.cpu.idle", "not supported"),
        (.init("blkio leaf weight") { $0.linux?.resources?.blockIO = .init(leafWeight: 10) }, "linux.resources.blockIO.leafWeight", "not supported"),
        (.init("per-device weight") { $0.linux?.resources?.blockIO = .init(weightDevice: [.init(major: 8, minor: 0, weight: 10)]) },
         "linux.resources.blockIO.weightDevice", "per-device limits are not supported"),
        (.init("hugepage size") { $0.linux?.resources?.hugepageLimits = [.init(pageSize: "2XB", limit: 1)] },
         "linux.resources.hugepageLimits[0].pageSize", "'2XB' is not a size like 2MB or 1GB"),
        (.init("unified cgroup.procs") { $0.linux?.resources?.unified = [OCIKeyValue("cgroup.procs", "1")] },
         "linux.resources.unified[0]", "'cgroup.procs'"),
        (.init("unified path") { $0.linux?.resources?.unified = [OCIKeyValue("../memory.max", "1")] },
         "linux.resources.unified[0]", "is not a cgroup file name"),
        (.init("device type") { $0.linux?.devices = [.init(type: "x", path: "/dev/x")] }, "linux.devices[0].type", "x is not c, b, u or p"),
        (.init("missing bind source") { $0.mounts.append(.init(destination: "/data", type: "bind", source: "no-such-dir", options: ["bind"])) },
         "mounts[7].source", "does not exist"),
    ]

    @Test("what envyro can't do is refused by the JSON path that asks for it", arguments: refusals)
    func refused(_ change: BundleChange, _ path: String, _ reason: String) throws {
        let bundle = Bundle()
        let config = try bundle.config(change.change)
        do {
            _ = try OCILowering.lower(config, bundle: bundle.path, id: "c1", stateRoot: "/run/envyro/oci")
            Issue.record("lowered; expected a refusal at \(path)")
        } catch {
            #expect(error.path == path)
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect(error.description == "config.json: \(path): \(error.reason)")
        }
    }

    @Test("a cgroup name is oci-ID-HASH: per state root, only characters a cgroup name may have")
    func cgroupNames() {
        let a = OCILowering.cgroupName(id: "web.1", root: "/run/a")
        #expect(a.hasPrefix("oci-web.1-"))
        #expect(a == OCILowering.cgroupName(id: "web.1", root: "/run/a"))
        #expect(a != OCILowering.cgroupName(id: "web.1", root: "/run/b"))
        #expect(OCILowering.cgroupName(id: "a+b", root: "/r").hasPrefix("oci-a_b-"))
        let long = OCILowering.cgroupName(id: String(repeating: "x", count: 1000), root: "/r")
        #expect(isValidOCICgroupName(long))
        #expect(long.utf8.count <= 200)
    }

    @Test("update takes runc's flags and refuses the ones envyro can't apply", arguments: [
        (["--memory", "268435456", "c1"], nil),
        (["--pids-limit=10", "--cpu-share", "512", "c1"], nil),
        (["--cpu-rt-period", "1", "c1"], "update --cpu-rt-period: not supported by envyro"),
        (["--memory", "lots", "c1"], "update --memory lots: not a number"),
        (["c1"], "update: nothing to update (give --resources or a limit flag)"),
    ] as [([String], String?)])
    func update(_ args: [String], _ refusal: String?) throws {
        let a = try OCIArguments(args, command: "update", valued: ["resources", "memory", "pids-limit", "cpu-share", "cpu-rt-period"], boolean: [])
        do throws(OCIFailure) {
            let l = try OCILowering.updateLimits(a)
            #expect(refusal == nil)
            #expect(!l.isEmpty)
        } catch {
            #expect(error.message == refusal)
        }
    }
}
