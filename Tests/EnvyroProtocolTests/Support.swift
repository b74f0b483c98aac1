import EnvyroProtocol

/// Little-endian byte builder independent of the module's own writer, so tests check the layout.
final class Bytes {
    var b: [UInt8] = []
    @discardableResult func u8(_ v: UInt8) -> Bytes { b.append(v); return self }
    @discardableResult func u16(_ v: UInt16) -> Bytes {
        b += [UInt8(v & 0xFF), UInt8(v >> 8)]
        return self
    }
    @discardableResult func u32(_ v: UInt32) -> Bytes {
        b += (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
        return self
    }
    @discardableResult func i32(_ v: Int32) -> Bytes { u32(UInt32(bitPattern: v)) }
    @discardableResult func raw(_ v: [UInt8]) -> Bytes { b += v; return self }
    @discardableResult func str(_ s: String) -> Bytes { rawStr(Array(s.utf8)) }
    @discardableResult func rawStr(_ bytes: [UInt8]) -> Bytes {
        u32(UInt32(bytes.count))
        b += bytes
        return self
    }
    @discardableResult func list(_ l: [String]) -> Bytes {
        u32(UInt32(l.count))
        for s in l { str(s) }
        return self
    }
}

func payload(_ build: (Bytes) -> Void) -> [UInt8] {
    let p = Bytes()
    build(p)
    return p.b
}

/// A frame with an explicit header; `declared` overrides payloadLength.
func frame(
    magic: UInt32 = ProtocolLimits.magic, version: UInt16 = 1, verb: UInt16, requestID: UInt32 = 1,
    declared: UInt32? = nil, payload: [UInt8] = []
) -> [UInt8] {
    let h = Bytes()
    h.u32(magic).u16(version).u16(verb).u32(requestID).u32(declared ?? UInt32(payload.count))
    return h.b + payload
}

/// Create-request payload with overridable fields (raw encoding, no validation).
func createPayload(
    namespaces: UInt32 = NamespaceSet.all.rawValue, network: UInt8 = 0, hostname: String = "box",
    rootfs: String = "", writable: UInt8 = 0, argv: [String] = ["/bin/sh", "-c", "true"],
    env: [String] = ["PATH=/bin", "HOME=/root"], cwd: String = "/", useInit: UInt8 = 1,
    tail: [UInt8] = defaultCreateTail
) -> [UInt8] {
    payload { p in
        p.u32(namespaces).u8(network).str(hostname).str(rootfs).u8(writable)
            .list(argv).list(env).str(cwd).u8(useInit)
    } + tail
}

/// The create fields after useInit: no limits, no id mappings (uid, gid), no seccomp program,
/// every capability asked for.
let defaultCreateTail: [UInt8] = [0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8)

let sampleCreate = CreateRequest(
    namespaces: .all, network: .none, hostname: "box", rootfs: "", rootfsWritable: false,
    argv: ["/bin/sh", "-c", "true"], env: ["PATH=/bin", "HOME=/root"], cwd: "/", useInit: true)

/// One valid example of every message, used for round trips and as fuzz seeds.
let sampleFrames: [Frame] = [
    Frame(requestID: 1, message: .hello(Hello(protocolVersion: 1, client: "envyro 0.1"))),
    Frame(requestID: 2, message: .hello(Hello(protocolVersion: 1, client: "envyro-supervisor", modes: .prewarm))),
    Frame(requestID: 2, message: .create(sampleCreate)),
    Frame(requestID: 3, message: .create(CreateRequest(
        namespaces: [.user, .pid, .network], network: .host, hostname: "", rootfs: "/var/lib/envyro/rootfs",
        rootfsWritable: true, argv: ["echo", "héllo wörld ✓", ""], env: [], cwd: "/tmp/work", useInit: false))),
    Frame(requestID: 5, message: .create(CreateRequest(
        namespaces: .all, network: .none, hostname: "limited", rootfs: "", rootfsWritable: false,
        argv: ["true"], env: [], cwd: "/", useInit: false,
        limits: {
            var l = LimitSet()
            l.memoryMax = 256 << 20; l.memorySwapMax = -1; l.pidsMax = 64; l.cpuQuotaMicros = 50_000
            l.cpuPeriodMicros = 100_000; l.cpuShares = 512; l.cpusetCpus = "0-1"; l.cpusetMems = "0"; l.ioWeight = 500
            return l
        }(),
        uidMappings: [IDMapping(containerID: 0, hostID: 1000, count: 1), IDMapping(containerID: 1, hostID: 100_000, count: 65536)],
        gidMappings: [IDMapping(containerID: 0, hostID: 1000, count: 1)],
        seccomp: [UInt8](repeating: 6, count: 16), capabilities: 0))),
    Frame(requestID: 4, message: .signal(SignalRequest(containerID: 7, signal: 15))),
    Frame(requestID: 1, message: .helloReply(HelloReply(helperPID: 4242, policyName: "default", privileged: true))),
    Frame(requestID: 2, message: .created(Created(containerID: 7, pid: 31337))),
    Frame(requestID: 3, message: .created(Created(containerID: 8, pid: 4242, prewarmed: true, prewarmedDiscarded: 2,
                                                  networkNamespace: .pooledReused, networkNamespacesDiscarded: 1,
                                                  steps: [HelperStep(name: "checks", micros: 12), HelperStep(name: "run sent, exec", micros: 230)]))),
    Frame(requestID: 4, message: .signalled(Signalled(containerID: 7))),
    Frame(requestID: 9, message: .failed(Failure(errno: 1, step: .clone, message: "Operation not permitted"))),
    Frame(requestID: 10, message: .failed(Failure(errno: 2, step: .exec, message: "exec: No such file or directory"))),
    Frame(requestID: 0, message: .exited(Exited(containerID: 7, exitCode: 0, signal: 9, coreDumped: true))),
    Frame(requestID: 0, message: .exited(Exited(containerID: 8, exitCode: 137, signal: 9, coreDumped: false, usage: {
        var u = ResourceUsage()
        u.userCPUMicros = 1200; u.systemCPUMicros = 300; u.maxRSSKiB = 65536; u.memoryPeakBytes = 67_108_864
        u.memoryLimitBytes = 67_108_864; u.oomKills = 1; u.pidsPeak = 3; u.cpuUsageNanos = 1_500_000
        return u
    }()))),
    Frame(requestID: 0, message: .exited(Exited(containerID: 0xFFFF_FFFF, exitCode: -1, signal: 0, coreDumped: false))),
    Frame(requestID: 10, message: .ociCreate(sampleOCICreate)),
    Frame(requestID: 11, message: .ociControl(OCIControlRequest(op: .update, id: "c1", cgroup: "oci-c1-1a2b", pid: 42, startTime: 99,
                                                                 limits: { var l = LimitSet(); l.memoryMax = 1 << 26; l.pidsMax = 50; return l }()))),
    Frame(requestID: 11, message: .ociDone(OCIDone(op: .destroy, processes: 3))),
    Frame(requestID: 12, message: .ociExec(OCIExecRequest(id: "c1", cgroup: "", pid: 42, startTime: 99, namespaces: [.pid, .mount],
                                                          process: WireProcess(argv: ["sh"], env: ["A=B"], cwd: "/"), detached: true, hasConsole: false))),
]

/// Compares errors; for invalidValue only the field is compared (reasons are prose).
func sameError(_ a: ProtocolError, _ b: ProtocolError) -> Bool {
    if case .invalidValue(let fa, _) = a, case .invalidValue(let fb, _) = b { return fa == fb }
    return a == b
}

/// An OCI create with every field set.
let sampleOCICreate = OCICreateRequest(
    base: CreateRequest(namespaces: [.pid, .mount, .ipc, .uts, .network], network: .none, hostname: "h", rootfs: "/b/rootfs",
                        rootfsWritable: true, argv: ["sh"], env: ["PATH=/bin"], cwd: "/", useInit: false,
                        limits: { var l = LimitSet(); l.pidsMax = 2048; return l }()),
    id: "abc", cgroup: "oci-abc-12345678",
    process: WireProcess(argv: ["sh", "-c", "true"], env: ["PATH=/bin"], cwd: "/", uid: 1000, gid: 1000, additionalGids: [5, 10],
                         umask: 0o22, capBounding: 1 << 5, capEffective: 1 << 5, capPermitted: 1 << 5, capInheritable: 1 << 5,
                         capAmbient: 1 << 5, noNewPrivileges: true, rlimits: [WireRlimit(resource: 7, soft: 1024, hard: 4096)],
                         terminal: true, consoleRows: 30, consoleCols: 100, seccomp: [UInt8](repeating: 0, count: 16)),
    mounts: [WireMount(source: "proc", destination: "/proc", fstype: "proc", flags: 14, propagation: 0, data: ""),
             WireMount(source: "/etc/hosts", destination: "/etc/hosts", fstype: "", flags: 4096 | 1, propagation: 1 << 18, data: ""),
             WireMount(source: "/srv", destination: "/srv", fstype: "", flags: 4096 | 0x4000, propagation: 0, data: "",
                       attrSet: 0x10 | 1, attrClear: 0x70, extra: 4 | 8,
                       uidMappings: [IDMapping(containerID: 0, hostID: 1000, count: 10)],
                       gidMappings: [IDMapping(containerID: 0, hostID: 2000, count: 5)])],
    devices: [WireDevice(path: "/dev/null", mode: 0o020666, major: 1, minor: 3, uid: 0, gid: 0)],
    sysctl: ["kernel.shmmax=1"], maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"], rootfsPropagation: 1 << 18,
    domainname: "d", joinNamespaces: [], oomScoreAdj: -5, hasConsole: true, deviceRules: ["deny a *:* rwm", "allow c 1:3 rwm"], pausesForHooks: true)
