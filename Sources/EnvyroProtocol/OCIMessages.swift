// The OCI verbs (issue 8): an OCI bundle's container is created held (it waits for `start`),
// detached (it outlives the helper, reaped by the engine's shim), and later driven by name.
//
//   oci_create  (0x0005, 5 fds: stdin, stdout, stderr, start socket, console socket or a
//                placeholder) -> created
//   oci_control (0x0006, no fds) -> oci_done: signal / kill all / freeze / thaw / destroy /
//                update limits of a container this caller created earlier
//   oci_exec    (0x0007, 4 fds: stdin, stdout, stderr, console socket or a placeholder)
//                -> created (pid of the new process)
//
// Containers are named by their cgroup's name in the caller's subtree (`oci-…`, checked by the
// helper) and by pid + start time, so a recycled pid is never signalled.

/// One device node to create in the container.
public struct WireDevice: Sendable, Equatable {
    /// Absolute path inside the container.
    public var path: String
    /// File type and permission bits (S_IFCHR, S_IFBLK or S_IFIFO | mode).
    public var mode: UInt32
    /// Device numbers.
    public var major: UInt32, minor: UInt32
    /// Owner inside the container.
    public var uid: UInt32, gid: UInt32

    /// Memberwise initialiser.
    public init(path: String, mode: UInt32, major: UInt32, minor: UInt32, uid: UInt32, gid: UInt32) {
        self.path = path; self.mode = mode; self.major = major; self.minor = minor; self.uid = uid; self.gid = gid
    }
}

/// One resource limit (setrlimit).
public struct WireRlimit: Sendable, Equatable {
    /// RLIMIT_* number.
    public var resource: Int32
    /// Soft and hard values.
    public var soft: UInt64, hard: UInt64

    /// Memberwise initialiser.
    public init(resource: Int32, soft: UInt64, hard: UInt64) { self.resource = resource; self.soft = soft; self.hard = hard }
}

/// The process an OCI container or exec runs: user, capabilities and limits.
public struct WireProcess: Sendable, Equatable {
    /// Command line (argv[0] non-empty), environment, working directory.
    public var argv: [String], env: [String], cwd: String
    /// process.user.
    public var uid: UInt32, gid: UInt32
    /// process.user.additionalGids.
    public var additionalGids: [UInt32]
    /// process.user.umask, or -1 to leave it.
    public var umask: Int32
    /// process.capabilities as masks (bit n = capability n).
    public var capBounding: UInt64, capEffective: UInt64, capPermitted: UInt64, capInheritable: UInt64, capAmbient: UInt64
    /// process.noNewPrivileges.
    public var noNewPrivileges: Bool
    /// process.rlimits.
    public var rlimits: [WireRlimit]
    /// process.terminal (the console socket fd is real), and the console size.
    public var terminal: Bool
    public var consoleRows: UInt16, consoleCols: UInt16
    /// An extra seccomp BPF program (the bundle's profile, compiled by the caller); stacked on
    /// the policy's own, so it can only restrict further.
    public var seccomp: [UInt8]
    /// ioprio, personality, kept groups, preserved fds (OCIProcessMessages.swift).
    public var extras = WireProcessExtras()

    /// Memberwise initialiser.
    public init(argv: [String], env: [String], cwd: String, uid: UInt32 = 0, gid: UInt32 = 0, additionalGids: [UInt32] = [],
                umask: Int32 = -1, capBounding: UInt64 = 0, capEffective: UInt64 = 0, capPermitted: UInt64 = 0,
                capInheritable: UInt64 = 0, capAmbient: UInt64 = 0, noNewPrivileges: Bool = true, rlimits: [WireRlimit] = [],
                terminal: Bool = false, consoleRows: UInt16 = 0, consoleCols: UInt16 = 0, seccomp: [UInt8] = []) {
        self.argv = argv; self.env = env; self.cwd = cwd; self.uid = uid; self.gid = gid
        self.additionalGids = additionalGids; self.umask = umask
        self.capBounding = capBounding; self.capEffective = capEffective; self.capPermitted = capPermitted
        self.capInheritable = capInheritable; self.capAmbient = capAmbient
        self.noNewPrivileges = noNewPrivileges; self.rlimits = rlimits
        self.terminal = terminal; self.consoleRows = consoleRows; self.consoleCols = consoleCols; self.seccomp = seccomp
    }

    /// Every capability mask together: what the policy's `keep` must cover.
    public var allCapabilities: UInt64 { capBounding | capEffective | capPermitted | capInheritable | capAmbient }

    func encode(into w: inout WireWriter) {
        w.strings(argv); w.strings(env); w.string(cwd); w.u32(uid); w.u32(gid)
        w.u32(UInt32(truncatingIfNeeded: additionalGids.count)); for g in additionalGids { w.u32(g) }
        w.i32(umask)
        w.u64(capBounding); w.u64(capEffective); w.u64(capPermitted); w.u64(capInheritable); w.u64(capAmbient)
        w.bool(noNewPrivileges)
        w.u32(UInt32(truncatingIfNeeded: rlimits.count))
        for l in rlimits { w.i32(l.resource); w.u64(l.soft); w.u64(l.hard) }
        w.bool(terminal); w.u16(consoleRows); w.u16(consoleCols)
        w.blob(seccomp)
        extras.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> WireProcess {
        let argv = try r.strings("argv"), env = try r.strings("env"), cwd = try r.string("cwd")
        let uid = try r.u32("uid"), gid = try r.u32("gid")
        let ngroups = try r.u32("additionalGids")
        guard ngroups <= 65536, UInt64(ngroups) * 4 <= UInt64(r.remaining) else { throw .truncated(field: "additionalGids") }
        var groups: [UInt32] = []
        for _ in 0..<ngroups { groups.append(try r.u32("additionalGids")) }
        let umask = try r.i32("umask")
        let caps = (try r.u64("capBounding"), try r.u64("capEffective"), try r.u64("capPermitted"),
                    try r.u64("capInheritable"), try r.u64("capAmbient"))
        let nnp = try r.bool("noNewPrivileges")
        let nlimits = try r.u32("rlimits")
        guard nlimits <= 64 else { throw .invalidValue(field: "rlimits", reason: "more than 64") }
        var limits: [WireRlimit] = []
        for _ in 0..<nlimits { limits.append(WireRlimit(resource: try r.i32("rlimits.resource"), soft: try r.u64("rlimits.soft"), hard: try r.u64("rlimits.hard"))) }
        var p = WireProcess(argv: argv, env: env, cwd: cwd, uid: uid, gid: gid, additionalGids: groups, umask: umask,
                            capBounding: caps.0, capEffective: caps.1, capPermitted: caps.2, capInheritable: caps.3, capAmbient: caps.4,
                            noNewPrivileges: nnp, rlimits: limits, terminal: try r.bool("terminal"),
                            consoleRows: try r.u16("consoleRows"), consoleCols: try r.u16("consoleCols"),
                            seccomp: try r.blob("seccomp", max: ProtocolLimits.maxSeccompBytes))
        p.extras = try WireProcessExtras.decode(from: &r)
        return p
    }

    func validate() throws(ProtocolError) {
        try checkList(argv, "argv")
        guard let first = argv.first, !first.isEmpty else { throw .invalidValue(field: "argv", reason: "empty") }
        try checkList(env, "env")
        for (i, e) in env.enumerated() where !e.utf8.contains(UInt8(ascii: "=")) {
            throw .invalidValue(field: "env[\(i)]", reason: "missing '='")
        }
        try checkString(cwd, "cwd")
        guard cwd.utf8.first == UInt8(ascii: "/") else { throw .invalidValue(field: "cwd", reason: "not absolute") }
        guard umask >= -1, umask <= 0o777 else { throw .invalidValue(field: "umask", reason: "out of range") }
        for l in rlimits where !(0...15).contains(l.resource) || l.soft > l.hard {
            throw .invalidValue(field: "rlimits", reason: "resource \(l.resource) soft \(l.soft) hard \(l.hard)")
        }
        guard seccomp.count % 8 == 0 else { throw .invalidValue(field: "seccomp", reason: "not a multiple of 8 bytes") }
        guard capAmbient & ~(capPermitted & capInheritable) == 0 else {
            throw .invalidValue(field: "capAmbient", reason: "an ambient capability must be permitted and inheritable")
        }
        try extras.validate()
    }
}

/// What a cgroup name in an OCI request may look like: `oci-` and [A-Za-z0-9._-], at most 200
/// bytes, so it is a single path component beneath the caller's subtree.
public func isValidOCICgroupName(_ s: String) -> Bool {
    guard s.hasPrefix("oci-"), s.utf8.count <= 200, s != "oci-" else { return false }
    return s.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x5f || c == 0x2d
    }
}

// OCICreateRequest (verb 0x0005), payload:
//   base CreateRequest (as verb 0x0002; its argv/env/cwd/capabilities/seccomp are unused:
//   `process` carries them) | id string | cgroup string ("" = no cgroup) | process WireProcess
//   | mounts (u32 count + WireMount, with its recursive attributes, extras and idmap ranges) | devices (u32 count + path, mode, major, minor, uid, gid)
//   | sysctl (string list of "key=value") | maskedPaths | readonlyPaths | rootfsPropagation u64
//   | domainname string | joinNamespaces (u32 count + u32 NamespaceSet bit + path)
//   | oomScoreAdj i32 | hasOOMScoreAdj bool | hasConsole bool | deviceRules string list
//   | hugepageLimits string list ("2MB=BYTES") | unified string list ("key=value")
//   | extras OCICreateExtras (OCIProcessMessages.swift) | pausesForHooks bool
/// Request to create an OCI bundle's container, held before exec until `start`.
public struct OCICreateRequest: Sendable, Equatable, WirePayload {
    /// Namespaces, network, hostname, rootfs, limits and id maps (argv/env/cwd are ignored).
    public var base: CreateRequest
    /// The container's OCI id (for audit lines).
    public var id: String
    /// Its cgroup's name in the caller's subtree (`oci-…`), or "" for none.
    public var cgroup: String
    /// The process, user, capabilities and rlimits.
    public var process: WireProcess
    /// The bundle's mounts, in order.
    public var mounts: [WireMount]
    /// linux.devices.
    public var devices: [WireDevice]
    /// linux.sysctl as "key=value".
    public var sysctl: [String]
    /// linux.maskedPaths and readonlyPaths (added to the policy's).
    public var maskedPaths: [String], readonlyPaths: [String]
    /// linux.rootfsPropagation as mount flags (0: rprivate).
    public var rootfsPropagation: UInt64
    /// domainname.
    public var domainname: String
    /// Namespaces to join instead of creating: (one NamespaceSet bit, path).
    public var joinNamespaces: [(NamespaceSet, String)]
    /// process.oomScoreAdj, when set.
    public var oomScoreAdj: Int32?
    /// Whether the fifth fd is a console socket (else a placeholder).
    public var hasConsole: Bool
    /// Device cgroup rules after a deny-all, in order: "allow c 1:3 rwm", "deny b *:* m".
    /// Applied (cgroup v1) for containers without a user namespace run by host root.
    public var deviceRules: [String]
    /// linux.resources.hugepageLimits as "2MB=BYTES".
    public var hugepageLimits: [String]
    /// linux.resources.unified as "key=value" (cgroup v2 files).
    public var unified: [String]
    /// Time namespace, personality and net devices (OCIProcessMessages.swift).
    public var extras = OCICreateExtras()
    /// The bundle has createRuntime/createContainer (or prestart) hooks: once its mounts are
    /// made, before pivot_root, the container accepts one connection on the start socket,
    /// sends a byte (its pid reaches the caller as SCM_CREDENTIALS) and waits for a byte back
    /// (0: the hooks ran; else it fails), as the runtime-spec orders those hooks.
    public var pausesForHooks: Bool

    /// Memberwise initialiser.
    public init(base: CreateRequest, id: String, cgroup: String, process: WireProcess, mounts: [WireMount] = [],
                devices: [WireDevice] = [], sysctl: [String] = [], maskedPaths: [String] = [], readonlyPaths: [String] = [],
                rootfsPropagation: UInt64 = 0, domainname: String = "", joinNamespaces: [(NamespaceSet, String)] = [],
                oomScoreAdj: Int32? = nil, hasConsole: Bool = false, deviceRules: [String] = [],
                hugepageLimits: [String] = [], unified: [String] = [], pausesForHooks: Bool = false) {
        self.pausesForHooks = pausesForHooks
        self.base = base; self.id = id; self.cgroup = cgroup; self.process = process; self.mounts = mounts
        self.devices = devices; self.sysctl = sysctl; self.maskedPaths = maskedPaths; self.readonlyPaths = readonlyPaths
        self.rootfsPropagation = rootfsPropagation; self.domainname = domainname; self.joinNamespaces = joinNamespaces
        self.oomScoreAdj = oomScoreAdj; self.hasConsole = hasConsole; self.deviceRules = deviceRules
        self.hugepageLimits = hugepageLimits; self.unified = unified
    }

    public static func == (a: OCICreateRequest, b: OCICreateRequest) -> Bool {
        a.base == b.base && a.id == b.id && a.cgroup == b.cgroup && a.process == b.process && a.mounts == b.mounts
            && a.devices == b.devices && a.sysctl == b.sysctl && a.maskedPaths == b.maskedPaths
            && a.readonlyPaths == b.readonlyPaths && a.rootfsPropagation == b.rootfsPropagation
            && a.domainname == b.domainname && a.oomScoreAdj == b.oomScoreAdj && a.hasConsole == b.hasConsole
            && a.deviceRules == b.deviceRules && a.hugepageLimits == b.hugepageLimits && a.unified == b.unified
            && a.pausesForHooks == b.pausesForHooks
            && a.joinNamespaces.map(\.0) == b.joinNamespaces.map(\.0) && a.joinNamespaces.map(\.1) == b.joinNamespaces.map(\.1)
            && a.extras == b.extras
    }

    func encode(into w: inout WireWriter) {
        base.encode(into: &w)
        w.string(id); w.string(cgroup)
        process.encode(into: &w)
        w.u32(UInt32(truncatingIfNeeded: mounts.count)); for m in mounts { m.encode(into: &w) }
        w.u32(UInt32(truncatingIfNeeded: devices.count))
        for d in devices { w.string(d.path); w.u32(d.mode); w.u32(d.major); w.u32(d.minor); w.u32(d.uid); w.u32(d.gid) }
        w.strings(sysctl); w.strings(maskedPaths); w.strings(readonlyPaths)
        w.u64(rootfsPropagation); w.string(domainname)
        w.u32(UInt32(truncatingIfNeeded: joinNamespaces.count))
        for (kind, path) in joinNamespaces { w.u32(kind.rawValue); w.string(path) }
        w.i32(oomScoreAdj ?? 0); w.bool(oomScoreAdj != nil); w.bool(hasConsole); w.strings(deviceRules)
        w.strings(hugepageLimits); w.strings(unified)
        extras.encode(into: &w)
        w.bool(pausesForHooks)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> OCICreateRequest {
        let base = try CreateRequest.decode(from: &r)
        let id = try r.string("id"), cgroup = try r.string("cgroup")
        let process = try WireProcess.decode(from: &r)
        let nm = try r.u32("mounts")
        guard nm <= 1024 else { throw .invalidValue(field: "mounts", reason: "more than 1024") }
        var mounts: [WireMount] = []
        for _ in 0..<nm { mounts.append(try WireMount.decode(from: &r)) }
        let nd = try r.u32("devices")
        guard nd <= 1024 else { throw .invalidValue(field: "devices", reason: "more than 1024") }
        var devices: [WireDevice] = []
        for _ in 0..<nd {
            devices.append(WireDevice(path: try r.string("devices.path"), mode: try r.u32("devices.mode"), major: try r.u32("devices.major"),
                                      minor: try r.u32("devices.minor"), uid: try r.u32("devices.uid"), gid: try r.u32("devices.gid")))
        }
        let sysctl = try r.strings("sysctl"), masked = try r.strings("maskedPaths"), ro = try r.strings("readonlyPaths")
        let prop = try r.u64("rootfsPropagation"), domain = try r.string("domainname")
        let nj = try r.u32("joinNamespaces")
        guard nj <= 8 else { throw .invalidValue(field: "joinNamespaces", reason: "more than 8") }
        var join: [(NamespaceSet, String)] = []
        for _ in 0..<nj { join.append((NamespaceSet(rawValue: try r.u32("joinNamespaces.kind")), try r.string("joinNamespaces.path"))) }
        let oom = try r.i32("oomScoreAdj"), hasOOM = try r.bool("hasOOMScoreAdj"), console = try r.bool("hasConsole")
        // One encoding per request: an unset score is sent as 0.
        if !hasOOM && oom != 0 { throw .invalidValue(field: "oomScoreAdj", reason: "\(oom) given with hasOOMScoreAdj false") }
        let rules = try r.strings("deviceRules"), huge = try r.strings("hugepageLimits"), unified = try r.strings("unified")
        var request = OCICreateRequest(base: base, id: id, cgroup: cgroup, process: process, mounts: mounts, devices: devices,
                                       sysctl: sysctl, maskedPaths: masked, readonlyPaths: ro, rootfsPropagation: prop,
                                       domainname: domain, joinNamespaces: join, oomScoreAdj: hasOOM ? oom : nil, hasConsole: console,
                                       deviceRules: rules, hugepageLimits: huge, unified: unified)
        request.extras = try OCICreateExtras.decode(from: &r)
        request.pausesForHooks = try r.bool("pausesForHooks")
        return request
    }

    /// Paths absolute, names well-formed, no namespace both joined and created.
    public func validate() throws(ProtocolError) {
        try base.validate()
        try process.validate()
        try checkString(id, "id")
        guard !id.isEmpty, id.utf8.count <= 1024 else { throw .invalidValue(field: "id", reason: "empty or too long") }
        guard cgroup.isEmpty || isValidOCICgroupName(cgroup) else { throw .invalidValue(field: "cgroup", reason: "not an oci- name") }
        guard base.rootfs.utf8.first == UInt8(ascii: "/") else { throw .invalidValue(field: "rootfs", reason: "not absolute") }
        for (i, m) in mounts.enumerated() {
            try checkString(m.source, "mounts[\(i)].source"); try checkString(m.fstype, "mounts[\(i)].fstype")
            try checkString(m.data, "mounts[\(i)].data"); try checkString(m.destination, "mounts[\(i)].destination")
            guard m.destination.utf8.first == UInt8(ascii: "/") else { throw .invalidValue(field: "mounts[\(i)].destination", reason: "not absolute") }
            try m.validate(i)
        }
        for (i, d) in devices.enumerated() {
            try checkString(d.path, "devices[\(i)].path")
            guard d.path.utf8.first == UInt8(ascii: "/") else { throw .invalidValue(field: "devices[\(i)].path", reason: "not absolute") }
        }
        try checkList(sysctl, "sysctl"); try checkList(maskedPaths, "maskedPaths"); try checkList(readonlyPaths, "readonlyPaths")
        for (i, s) in sysctl.enumerated() where !s.utf8.contains(UInt8(ascii: "=")) {
            throw .invalidValue(field: "sysctl[\(i)]", reason: "missing '='")
        }
        try checkString(domainname, "domainname")
        guard domainname.utf8.count <= 64 else { throw .invalidValue(field: "domainname", reason: "longer than 64 bytes") }
        for (kind, path) in joinNamespaces {
            guard kind.rawValue.nonzeroBitCount == 1, kind.isSubset(of: .all) else {
                throw .invalidValue(field: "joinNamespaces", reason: "one namespace per entry")
            }
            guard !base.namespaces.contains(kind) else {
                throw .invalidValue(field: "joinNamespaces", reason: "a namespace can't be both joined and created")
            }
            try checkString(path, "joinNamespaces.path")
        }
        try checkList(deviceRules, "deviceRules")
        try checkList(hugepageLimits, "hugepageLimits")
        try checkList(unified, "unified")
        for (i, h) in hugepageLimits.enumerated() {
            let parts = h.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, UInt64(parts[1]) != nil else { throw .invalidValue(field: "hugepageLimits[\(i)]", reason: "must be SIZE=BYTES") }
        }
        for (i, u) in unified.enumerated() where !u.contains("=") || u.hasPrefix("=") {
            throw .invalidValue(field: "unified[\(i)]", reason: "must be key=value")
        }
        for (i, rule) in deviceRules.enumerated() where !(rule.hasPrefix("allow ") || rule.hasPrefix("deny ")) {
            throw .invalidValue(field: "deviceRules[\(i)]", reason: "must start with 'allow ' or 'deny '")
        }
        if let o = oomScoreAdj, !(-1000...1000).contains(o) { throw .invalidValue(field: "oomScoreAdj", reason: "outside -1000...1000") }
        try extras.validate()
    }
}

/// What `oci_control` does.
public enum OCIControlOp: UInt8, Sendable, CaseIterable {
    /// Send `signal` to the container's first process.
    case signal = 1
    /// Send `signal` to every process in the container's cgroup.
    case signalAll = 2
    /// Freeze every process (pause).
    case freeze = 3
    /// Thaw (resume).
    case thaw = 4
    /// Kill everything in the cgroup and remove it (delete).
    case destroy = 5
    /// Rewrite the cgroup's limits (update).
    case update = 6

    /// Its name in audit lines.
    public var name: String {
        switch self {
        case .signal: "signal"
        case .signalAll: "signal_all"
        case .freeze: "freeze"
        case .thaw: "thaw"
        case .destroy: "destroy"
        case .update: "update"
        }
    }
}

// OCIControlRequest (verb 0x0006), payload:
//   op u8 | id string | cgroup string | pid i32 | startTime u64 | signal i32 | limits LimitSet
/// Request to act on an OCI container this caller created earlier.
public struct OCIControlRequest: Sendable, Equatable, WirePayload {
    public var op: OCIControlOp
    /// The container's OCI id (for audit lines).
    public var id: String
    /// Its cgroup's name (`oci-…`), or "" when it has none.
    public var cgroup: String
    /// Its first process and that process's start time (/proc/PID/stat field 22); 0 = none.
    public var pid: Int32, startTime: UInt64
    /// The signal for `signal` and `signalAll`.
    public var signal: Int32
    /// The new limits for `update`.
    public var limits: LimitSet

    /// Memberwise initialiser.
    public init(op: OCIControlOp, id: String, cgroup: String, pid: Int32, startTime: UInt64, signal: Int32 = 0, limits: LimitSet = LimitSet()) {
        self.op = op; self.id = id; self.cgroup = cgroup; self.pid = pid; self.startTime = startTime; self.signal = signal; self.limits = limits
    }

    func encode(into w: inout WireWriter) {
        w.u8(op.rawValue); w.string(id); w.string(cgroup); w.i32(pid); w.u64(startTime); w.i32(signal); limits.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> OCIControlRequest {
        let raw = try r.u8("op")
        guard let op = OCIControlOp(rawValue: raw) else { throw .invalidValue(field: "op", reason: "unknown op \(raw)") }
        return OCIControlRequest(op: op, id: try r.string("id"), cgroup: try r.string("cgroup"), pid: try r.i32("pid"),
                                 startTime: try r.u64("startTime"), signal: try r.i32("signal"), limits: try LimitSet.decode(from: &r))
    }

    /// The cgroup name, pid and signal are well-formed for the op.
    public func validate() throws(ProtocolError) {
        try checkString(id, "id")
        guard cgroup.isEmpty || isValidOCICgroupName(cgroup) else { throw .invalidValue(field: "cgroup", reason: "not an oci- name") }
        switch op {
        case .signal, .signalAll:
            guard ProtocolLimits.signalRange.contains(signal) else { throw .invalidValue(field: "signal", reason: "out of range") }
            if op == .signal { guard pid > 0 else { throw .invalidValue(field: "pid", reason: "not positive") } }
        case .freeze, .thaw, .update:
            guard !cgroup.isEmpty else { throw .invalidValue(field: "cgroup", reason: "the container has no cgroup") }
        case .destroy:
            break
        }
        try limits.validate()
    }
}

// OCIDone (verb 0x8006), payload: op u8 | processes u32 (how many it acted on)
/// Answer to `oci_control`.
public struct OCIDone: Sendable, Equatable, WirePayload {
    public var op: OCIControlOp
    /// Processes signalled, frozen or killed.
    public var processes: UInt32

    /// Memberwise initialiser.
    public init(op: OCIControlOp, processes: UInt32) { self.op = op; self.processes = processes }

    func encode(into w: inout WireWriter) { w.u8(op.rawValue); w.u32(processes) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> OCIDone {
        let raw = try r.u8("op")
        guard let op = OCIControlOp(rawValue: raw) else { throw .invalidValue(field: "op", reason: "unknown op \(raw)") }
        return OCIDone(op: op, processes: try r.u32("processes"))
    }

    /// Nothing to check.
    public func validate() throws(ProtocolError) {}
}

// OCIExecRequest (verb 0x0007), payload:
//   id string | cgroup string | pid i32 | startTime u64 | namespaces u32 (to join)
//   | process WireProcess | detached bool | hasConsole bool
/// Request to run another process inside a running OCI container.
public struct OCIExecRequest: Sendable, Equatable, WirePayload {
    public var id: String, cgroup: String
    /// The container's first process, which names its namespaces.
    public var pid: Int32, startTime: UInt64
    /// The namespaces to join (the container's own).
    public var namespaces: NamespaceSet
    public var process: WireProcess
    /// Whether the process outlives the helper (no parent-death signal).
    public var detached: Bool
    /// Whether the fourth fd is a console socket.
    public var hasConsole: Bool

    /// Memberwise initialiser.
    public init(id: String, cgroup: String, pid: Int32, startTime: UInt64, namespaces: NamespaceSet, process: WireProcess,
                detached: Bool, hasConsole: Bool) {
        self.id = id; self.cgroup = cgroup; self.pid = pid; self.startTime = startTime; self.namespaces = namespaces
        self.process = process; self.detached = detached; self.hasConsole = hasConsole
    }

    func encode(into w: inout WireWriter) {
        w.string(id); w.string(cgroup); w.i32(pid); w.u64(startTime); w.u32(namespaces.rawValue)
        process.encode(into: &w); w.bool(detached); w.bool(hasConsole)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> OCIExecRequest {
        OCIExecRequest(id: try r.string("id"), cgroup: try r.string("cgroup"), pid: try r.i32("pid"), startTime: try r.u64("startTime"),
                       namespaces: NamespaceSet(rawValue: try r.u32("namespaces")), process: try WireProcess.decode(from: &r),
                       detached: try r.bool("detached"), hasConsole: try r.bool("hasConsole"))
    }

    /// The process is well-formed and names a real pid.
    public func validate() throws(ProtocolError) {
        try checkString(id, "id")
        guard cgroup.isEmpty || isValidOCICgroupName(cgroup) else { throw .invalidValue(field: "cgroup", reason: "not an oci- name") }
        guard pid > 0 else { throw .invalidValue(field: "pid", reason: "not positive") }
        guard namespaces.isSubset(of: .all) else { throw .invalidValue(field: "namespaces", reason: "unknown namespace bits") }
        try process.validate()
    }
}
