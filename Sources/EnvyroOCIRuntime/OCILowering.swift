// config.json (read strictly by EnvyroOCI) lowered to the helper's `oci_create` request.
//
// What a bundle asks for is carried out or refused here by name: nothing is silently ignored.
// The helper checks the result against its policy again; this side only makes the request
// well-formed and names the JSON path of whatever envyro can't do.
import EnvyroCgroup
import EnvyroEngine
import EnvyroJSON
import EnvyroOCI
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// A lowered bundle: the wire request and the hooks the CLI runs itself.
struct OCILowered {
    var request: OCICreateRequest
    var hooks: OCIHookSet
}

/// The bundle's hooks by kind.
struct OCIHookSet: Equatable {
    var prestart: [OCIConfig.Hook] = []
    var createRuntime: [OCIConfig.Hook] = []
    var createContainer: [OCIConfig.Hook] = []
    var startContainer: [OCIConfig.Hook] = []
    var poststart: [OCIConfig.Hook] = []
    var poststop: [OCIConfig.Hook] = []
}

/// A refusal naming the JSON path.
struct OCIUnsupported: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "config.json: \(path): \(reason)" }
}

enum OCILowering {
    /// The devices runc creates in every container with a /dev tmpfs (runtime-spec
    /// config-linux.md#default-devices).
    static let defaultDevices: [(String, UInt32, UInt32)] = [
        ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
    ]

    /// The device rules runc appends to every container's (mknod of anything, and the standard
    /// devices and ptys).
    static let defaultDeviceRules = [
        "allow c *:* m", "allow b *:* m", "allow c 1:3 rwm", "allow c 1:8 rwm", "allow c 1:7 rwm", "allow c 5:0 rwm",
        "allow c 1:5 rwm", "allow c 1:9 rwm", "allow c 136:* rwm", "allow c 5:2 rwm",
    ]

    /// `linux.resources.devices` as device cgroup rules, then runc's defaults.
    static func deviceRules(_ r: OCIConfig.Resources?) -> [String] {
        var out: [String] = []
        for d in r?.devices ?? [] {
            let type = d.type ?? "a"
            let major = d.major.map(String.init) ?? "*", minor = d.minor.map(String.init) ?? "*"
            let access = d.access ?? "rwm"
            out.append("\(d.allow ? "allow" : "deny") \(type) \(major):\(minor) \(access)")
        }
        return out + defaultDeviceRules
    }

    /// The cgroup name of container `id` under state root `root`: `oci-ID-HASH` (the hash of the
    /// root tells containerd's namespaces apart), only characters a cgroup name may have.
    static func cgroupName(id: String, root: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in root.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        let safe = String(id.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-") ? c : "_"
        }.prefix(180))
        return "oci-\(safe)-" + String(h, radix: 16)
    }

    static func capabilityMask(_ names: [String], _ path: String) throws(OCIUnsupported) -> UInt64 {
        var m: UInt64 = 0
        for n in names {
            guard let i = OCICapabilities.number(of: n) else { throw OCIUnsupported(path: path, reason: "unknown capability \(n)") }
            m |= 1 << UInt64(i)
        }
        return m
    }

    static func hooks(_ h: OCIConfig.Hooks?) -> OCIHookSet {
        guard let h else { return OCIHookSet() }
        func map(_ k: OCIConfig.HookKind) -> [OCIConfig.Hook] { h[k] }
        return OCIHookSet(prestart: map(.prestart), createRuntime: map(.createRuntime), createContainer: map(.createContainer),
                          startContainer: map(.startContainer), poststart: map(.poststart), poststop: map(.poststop))
    }

    /// The bundle's process as the wire's, with its seccomp profile compiled (unprivileged:
    /// the helper stacks it on the policy's own filter).
    /// crun's `run.oci.keep_original_groups` annotation (podman's `--group-add keep-groups`):
    /// set to anything but "0" or "false", the process keeps the caller's supplementary groups.
    static func keepOriginalGroups(_ annotations: [OCIKeyValue]) -> Bool {
        guard let v = annotations.first(where: { $0.key == "run.oci.keep_original_groups" })?.value else { return false }
        return v != "0" && v != "false"
    }

    static func process(_ p: OCIConfig.Process, seccomp: JSONValue?, keepGroups: Bool = false) throws(OCIUnsupported) -> WireProcess {
        guard let first = p.args.first, !first.isEmpty else { throw OCIUnsupported(path: "process.args", reason: "empty") }
        let caps = p.capabilities ?? OCIConfig.Capabilities()
        var w = WireProcess(argv: p.args, env: p.env, cwd: p.cwd, uid: p.user.uid, gid: p.user.gid,
                            additionalGids: p.user.additionalGids, umask: p.user.umask.map { Int32($0) } ?? -1,
                            capBounding: try capabilityMask(caps.bounding, "process.capabilities.bounding"),
                            capEffective: try capabilityMask(caps.effective, "process.capabilities.effective"),
                            capPermitted: try capabilityMask(caps.permitted, "process.capabilities.permitted"),
                            capInheritable: try capabilityMask(caps.inheritable, "process.capabilities.inheritable"),
                            capAmbient: try capabilityMask(caps.ambient, "process.capabilities.ambient"),
                            noNewPrivileges: p.noNewPrivileges,
                            rlimits: p.rlimits.map { WireRlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) },
                            terminal: p.terminal, consoleRows: p.consoleSize?.height ?? 0, consoleCols: p.consoleSize?.width ?? 0)
        w.extras.ioPriority = p.ioPriority?.value ?? -1
        w.extras.keepGroups = keepGroups
        // An ambient capability the kernel would refuse (not permitted and inheritable) is
        // dropped, as runc does.
        w.capAmbient &= w.capPermitted & w.capInheritable
        if let profile = seccomp {
            w.seccomp = try compileSeccomp(profile, capabilities: caps.effective + caps.permitted + caps.bounding)
        }
        return w
    }

    /// The bundle's profile compiled for `capabilities`, from the caller's disk cache when these
    /// exact profile bytes and capabilities were compiled before (engines pass the same profile
    /// to every container: parsing and compiling ~400 rules was a quarter of an OCI `create`'s
    /// CPU). The cache is the caller's own (SeccompDiskCache's checks); the helper installs the
    /// policy's filter under it regardless, compiled by itself.
    static func compileSeccomp(_ value: JSONValue, capabilities: [String]) throws(OCIUnsupported) -> [UInt8] {
        let text = value.serialized()
        let cache = SeccompDiskCache.forThisUser(privileged: false)
        let key = SeccompDiskCache.key(["oci-bundle", text, capabilities.sorted().joined(separator: ",")])
        if let bpf = cache?.load(key), !bpf.isEmpty { return bpf }
        do {
            let profile = try SeccompProfile.parse(bytes: Array(text.utf8), path: "config.json linux.seccomp")
            let compiled = try SeccompCompiler.compile(profile, capabilities: Set(capabilities))
            cache?.store(key, compiled.bpf)
            return compiled.bpf
        } catch {
            throw OCIUnsupported(path: "linux.seccomp", reason: "\(error)")
        }
    }


    /// The cgroup limits of `linux.resources`; anything envyro can't enforce is refused by name.
    static func limits(_ r: OCIConfig.Resources?) throws(OCIUnsupported) -> LimitSet {
        var l = LimitSet()
        guard let r else { return l }
        if let m = r.memory {
            if let v = m.limit, v > 0 { l.memoryMax = v }
            if let v = m.swap, v > 0 { l.memorySwapMax = v }
            if let v = m.reservation, v > 0 { throw OCIUnsupported(path: "linux.resources.memory.reservation", reason: "not supported by envyro") }
            if let v = m.kernel, v > 0 { throw OCIUnsupported(path: "linux.resources.memory.kernel", reason: "not supported by envyro (deprecated in the kernel)") }
            if let v = m.kernelTCP, v > 0 { throw OCIUnsupported(path: "linux.resources.memory.kernelTCP", reason: "not supported by envyro") }
            if m.disableOOMKiller == true { throw OCIUnsupported(path: "linux.resources.memory.disableOOMKiller", reason: "not supported by envyro") }
            if let s = m.swappiness, s != 0 && s <= 100 { throw OCIUnsupported(path: "linux.resources.memory.swappiness", reason: "not supported by envyro") }
        }
        if let c = r.cpu {
            if let v = c.shares, v > 0 { l.cpuShares = v }
            if let v = c.quota, v > 0 { l.cpuQuotaMicros = v }
            if let v = c.period, v > 0 { l.cpuPeriodMicros = v }
            if let v = c.cpus, !v.isEmpty { l.cpusetCpus = v }
            if let v = c.mems, !v.isEmpty { l.cpusetMems = v }
            if let v = c.realtimeRuntime, v != 0 { throw OCIUnsupported(path: "linux.resources.cpu.realtimeRuntime", reason: "not supported by envyro") }
            if let v = c.realtimePeriod, v != 0 { throw OCIUnsupported(path: "linux.resources.cpu.realtimePeriod", reason: "not supported by envyro") }
            if let v = c.burst, v != 0 { throw OCIUnsupported(path: "linux.resources.cpu.burst", reason: "not supported by envyro") }
            if let v = c.idle, v != 0 { throw OCIUnsupported(path: "linux.resources.cpu.idle", reason: "not supported by envyro") }
        }
        if let p = r.pids, p.limit > 0 { l.pidsMax = p.limit }
        if let b = r.blockIO {
            if let w = b.weight, w > 0 { l.ioWeight = CgroupFormats.ioWeight(fromBlkioWeight: w) }
            if b.leafWeight != nil { throw OCIUnsupported(path: "linux.resources.blockIO.leafWeight", reason: "not supported by envyro") }
            for (name, list) in [("weightDevice", b.weightDevice.count), ("throttleReadBpsDevice", b.throttleReadBpsDevice.count),
                                 ("throttleWriteBpsDevice", b.throttleWriteBpsDevice.count), ("throttleReadIOPSDevice", b.throttleReadIOPSDevice.count),
                                 ("throttleWriteIOPSDevice", b.throttleWriteIOPSDevice.count)] where list > 0 {
                throw OCIUnsupported(path: "linux.resources.blockIO.\(name)", reason: "per-device limits are not supported by envyro")
            }
        }
        return l
    }

    /// `linux.resources.hugepageLimits` and `unified`, for the wire.
    static func extraCgroupFiles(_ r: OCIConfig.Resources?) throws(OCIUnsupported) -> (huge: [String], unified: [String]) {
        guard let r else { return ([], []) }
        var huge: [String] = []
        for (i, h) in r.hugepageLimits.enumerated() {
            let digits = h.pageSize.prefix(while: { $0.isNumber })
            guard !digits.isEmpty, ["KB", "MB", "GB"].contains(String(h.pageSize.dropFirst(digits.count))) else {
                throw OCIUnsupported(path: "linux.resources.hugepageLimits[\(i)].pageSize", reason: "'\(h.pageSize)' is not a size like 2MB or 1GB")
            }
            huge.append("\(h.pageSize)=\(h.limit)")
        }
        var unified: [String] = []
        for (i, kv) in r.unified.enumerated() {
            // cgroup.procs, .kill, .freeze, .subtree_control are the runtime's own business.
            if let p = CgroupLimits.policedUnifiedPrefix(kv.key) {
                throw OCIUnsupported(path: "linux.resources.unified[\(i)]", reason: "'\(kv.key)': \(p)* files are set through linux.resources, where the policy checks them")
            }
            guard !kv.key.contains("/"), !kv.key.hasPrefix(".") else {
                throw OCIUnsupported(path: "linux.resources.unified[\(i)]", reason: "'\(kv.key)' is not a cgroup file name")
            }
            unified.append("\(kv.key)=\(kv.value)")
        }
        return (huge, unified)
    }

    /// Lowers a whole bundle.
    static func lower(_ c: OCIConfig, bundle: String, id: String, stateRoot: String) throws(OCIUnsupported) -> OCILowered {
        guard let p = c.process else { throw OCIUnsupported(path: "process", reason: "missing") }
        let linux = c.linux ?? OCIConfig.Linux()
        let rootfs = c.root.path.hasPrefix("/") ? c.root.path : bundle + "/" + c.root.path
        guard let realRoot = try? Files.realPath(rootfs), Files.kind(realRoot) == .directory else {
            throw OCIUnsupported(path: "root.path", reason: "\(rootfs) is not a directory")
        }

        var create = NamespaceSet()
        var join: [(NamespaceSet, String)] = []
        var extras = OCICreateExtras()
        for (i, ns) in linux.namespaces.enumerated() {
            let kind: NamespaceSet
            switch ns.type {
            case .time:
                // Not a clone flag: the child unshares it (or joins it) itself.
                if let path = ns.path, !path.isEmpty { extras.timeNamespacePath = path } else { extras.newTimeNamespace = true }
                continue
            case .pid: kind = .pid
            case .network: kind = .network
            case .mount: kind = .mount
            case .ipc: kind = .ipc
            case .uts: kind = .uts
            case .user: kind = .user
            case .cgroup: kind = .cgroup
            default: throw OCIUnsupported(path: "linux.namespaces[\(i)].type", reason: "\(ns.type.rawValue) namespaces are not supported by envyro")
            }
            if let path = ns.path, !path.isEmpty {
                guard kind != .mount else {
                    throw OCIUnsupported(path: "linux.namespaces[\(i)].path", reason: "joining a mount namespace is not supported by envyro (the bundle's root is built in a new one)")
                }
                join.append((kind, path))
            } else {
                create.insert(kind)
            }
        }
        guard create.contains(.mount) else { throw OCIUnsupported(path: "linux.namespaces", reason: "envyro needs a new mount namespace") }
        if !linux.uidMappings.isEmpty || !linux.gidMappings.isEmpty, !create.contains(.user) {
            throw OCIUnsupported(path: "linux.uidMappings", reason: "id mappings need a new user namespace in linux.namespaces")
        }

        var mounts: [WireMount] = []
        for (i, m) in c.mounts.enumerated() {
            let lm: LoweredMount
            do { lm = try m.lowered(index: i) } catch { throw OCIUnsupported(path: "mounts[\(i)]", reason: "\(error)") }
            var source = lm.source ?? ""
            if lm.isBind, !source.hasPrefix("/") { source = bundle + "/" + source }
            if lm.isBind && Files.kind(source) == .missing {
                throw OCIUnsupported(path: "mounts[\(i)].source", reason: "\(source) does not exist")
            }
            // A dangling symlink can only be copied (copy-symlink) or bound itself (src-nofollow);
            // crun refuses to bind it too.
            if lm.isBind && lm.extra & (MountExtra.copySymlink | MountExtra.srcNoFollow) == 0 && Files.kind(source) == .symlink
                && access(source, F_OK) != 0 {
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink(source, &buf, buf.count - 1)
                let target = n > 0 ? " (to \(String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)))" : ""
                throw OCIUnsupported(path: "mounts[\(i)].source", reason: "\(source) is a dangling symlink\(target): copy-symlink makes it a symlink in the container, src-nofollow binds the link itself")
            }
            var uidMap = m.uidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) }
            var gidMap = m.gidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) }
            if lm.extra & MountExtra.idmap != 0 && uidMap.isEmpty {
                // "idmap" with no ranges of its own: the container's (crun does the same).
                guard create.contains(.user), !linux.uidMappings.isEmpty else {
                    throw OCIUnsupported(path: "mounts[\(i)].options", reason: "an idmapped mount without uidMappings/gidMappings of its own takes the container's, and this container has no user namespace with mappings")
                }
                uidMap = linux.uidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) }
                gidMap = linux.gidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) }
            }
            mounts.append(WireMount(source: source, destination: lm.destination, fstype: lm.isBind ? "" : (lm.fstype ?? ""),
                                    flags: UInt64(lm.flags), propagation: UInt64(lm.propagation), data: lm.data,
                                    attrSet: lm.attrSet, attrClear: lm.attrClear, extra: lm.extra,
                                    uidMappings: uidMap, gidMappings: gidMap))
        }

        var devices: [WireDevice] = []
        if c.mounts.contains(where: { $0.destination == "/dev" && $0.type == "tmpfs" }) {
            for (path, major, minor) in defaultDevices {
                devices.append(WireDevice(path: path, mode: 0o020000 | 0o666, major: major, minor: minor, uid: 0, gid: 0))
            }
        }
        for (i, d) in linux.devices.enumerated() {
            let type: UInt32
            switch d.type {
            case "c", "u": type = 0o020000
            case "b": type = 0o060000
            case "p": type = 0o010000
            default: throw OCIUnsupported(path: "linux.devices[\(i)].type", reason: "\(d.type) is not c, b, u or p")
            }
            devices.removeAll { $0.path == d.path }
            devices.append(WireDevice(path: d.path, mode: type | ((d.fileMode ?? 0o666) & 0o7777), major: UInt32(clamping: d.major ?? 0),
                                      minor: UInt32(clamping: d.minor ?? 0), uid: d.uid ?? 0, gid: d.gid ?? 0))
        }

        let limits = try limits(linux.resources)
        let extra = try extraCgroupFiles(linux.resources)
        let network: NetworkModeWire = create.contains(.network) ? .none : .host
        let hostname = c.hostname ?? ""
        if !hostname.isEmpty && !create.contains(.uts) && !join.contains(where: { $0.0 == .uts }) {
            throw OCIUnsupported(path: "hostname", reason: "setting a hostname needs a new uts namespace")
        }
        let base = CreateRequest(
            namespaces: create, network: network, hostname: hostname, rootfs: realRoot, rootfsWritable: !c.root.readonly,
            argv: SecretStrings(p.args), env: SecretStrings(p.env), cwd: p.cwd, useInit: false, limits: limits,
            uidMappings: linux.uidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) },
            gidMappings: linux.gidMappings.map { IDMapping(containerID: $0.containerID, hostID: $0.hostID, count: $0.size) })
        let propagation: UInt
        do { propagation = try linux.rootfsPropagationFlags() ?? 0 } catch { throw OCIUnsupported(path: "linux.rootfsPropagation", reason: "\(error)") }
        var request = OCICreateRequest(
            base: base, id: id, cgroup: cgroupName(id: id, root: stateRoot),
            process: try process(p, seccomp: linux.seccomp, keepGroups: keepOriginalGroups(c.annotations)),
            mounts: mounts, devices: devices, sysctl: linux.sysctl.map { "\($0.key)=\($0.value)" },
            maskedPaths: linux.maskedPaths, readonlyPaths: linux.readonlyPaths, rootfsPropagation: UInt64(propagation),
            domainname: c.domainname ?? "", joinNamespaces: join, oomScoreAdj: p.oomScoreAdj.map { Int32($0) },
            hasConsole: p.terminal, deviceRules: deviceRules(linux.resources),
            hugepageLimits: extra.huge, unified: extra.unified)
        extras.timeOffsets = linux.timeOffsets.map(\.line)
        extras.netDevices = linux.netDevices.map { WireNetDevice(hostName: $0.hostName, name: $0.name) }
        request.extras = extras
        request.process.extras.personality = linux.personality?.value
        do { try request.validate() } catch { throw OCIUnsupported(path: "config", reason: "\(error)") }
        return OCILowered(request: request, hooks: hooks(c.hooks))
    }

    /// `update`'s new limits: `--resources FILE|-` (linux.resources JSON) or runc's flags.
    static func updateLimits(_ a: OCIArguments) throws(OCIFailure) -> LimitSet {
        var l = LimitSet()
        if let path = a.value("resources") {
            let bytes: [UInt8]
            if path == "-" {
                bytes = (try? Files.readAll(0, subject: "stdin", limit: 1 << 20)) ?? []
            } else {
                do { bytes = try Files.read(path, limit: 1 << 20) } catch { throw OCIFailure("update --resources \(path): \(error)") }
            }
            let text = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/\"},\"linux\":{\"resources\":" + String(decoding: bytes, as: UTF8.self) + "}}"
            do {
                let c = try OCIConfig.parse(text: text)
                l = try limits(c.linux?.resources)
                if !(c.linux?.resources?.hugepageLimits ?? []).isEmpty || !(c.linux?.resources?.unified ?? []).isEmpty {
                    throw OCIUnsupported(path: "hugepageLimits/unified", reason: "update can't change them (only at create)")
                }
            } catch let e as OCIUnsupported { throw OCIFailure("update --resources: \(e.reason) (\(e.path))") } catch {
                throw OCIFailure("update --resources: \(error)")
            }
        }
        func int(_ name: String) throws(OCIFailure) -> Int64? {
            guard let v = a.value(name) else { return nil }
            if let n = Int64(v) { return n }
            if let b = try? ResourceLimitBatch.parseSize(v) { return b }
            throw OCIFailure("update --\(name) \(v): not a number")
        }
        if let v = try int("memory"), v > 0 { l.memoryMax = v }
        if let v = try int("memory-swap"), v > 0 { l.memorySwapMax = v }
        if let v = try int("pids-limit"), v > 0 { l.pidsMax = v }
        if let v = try int("cpu-quota"), v > 0 { l.cpuQuotaMicros = v }
        if let v = try int("cpu-period"), v > 0 { l.cpuPeriodMicros = UInt64(v) }
        if let v = try int("cpu-share"), v > 0 { l.cpuShares = UInt64(v) }
        if let v = try int("blkio-weight"), v > 0 { l.ioWeight = CgroupFormats.ioWeight(fromBlkioWeight: UInt16(clamping: v)) }
        if let v = a.value("cpuset-cpus") { l.cpusetCpus = v }
        if let v = a.value("cpuset-mems") { l.cpusetMems = v }
        for name in ["memory-reservation", "kernel-memory", "kernel-memory-tcp", "cpu-rt-period", "cpu-rt-runtime", "l3-cache-schema", "mem-bw-schema", "cpu-idle"]
            where a.value(name) != nil {
            throw OCIFailure("update --\(name): not supported by envyro")
        }
        if l.isEmpty { throw OCIFailure("update: nothing to update (give --resources or a limit flag)") }
        return l
    }

    /// `exec`'s process: `--process FILE` (a runtime-spec process object) or the arguments
    /// after the id with --env/--cwd/--user/--cap/--tty; defaults from the container's bundle.
    static func execProcess(_ a: OCIArguments, record: OCIRecord) throws(OCIFailure) -> WireProcess {
        let bundleConfig = try? OCIConfig.load(bundle: record.bundle)
        let bundleProcess = bundleConfig?.process
        var process: OCIConfig.Process
        if let path = a.value("process") {
            let bytes: [UInt8]
            do { bytes = try Files.read(path, limit: 1 << 20) } catch { throw OCIFailure("exec --process \(path): \(error)") }
            let text = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/\"},\"process\":" + String(decoding: bytes, as: UTF8.self) + "}"
            do {
                guard let p = try OCIConfig.parse(text: text).process else { throw OCIFailure("exec --process: no process") }
                process = p
            } catch let e as OCIFailure { throw e } catch { throw OCIFailure("exec --process \(path): \(error)") }
        } else {
            let args = Array(a.positionals.dropFirst())
            guard !args.isEmpty else { throw OCIFailure("exec: needs a command (or --process FILE)") }
            process = bundleProcess ?? OCIConfig.Process(args: args, env: [], cwd: "/")
            process.args = args
            process.terminal = a.flag("tty")
            process.env += a.all("env")
            if let cwd = a.value("cwd") { process.cwd = cwd }
            if let u = a.value("user") {
                let parts = u.split(separator: ":", maxSplits: 1)
                guard let uid = UInt32(parts[0]) else { throw OCIFailure("exec --user \(u): give UID[:GID] as numbers") }
                process.user.uid = uid
                if parts.count > 1 {
                    guard let gid = UInt32(parts[1]) else { throw OCIFailure("exec --user \(u): give UID[:GID] as numbers") }
                    process.user.gid = gid
                }
            }
            for g in a.all("additional-gids") {
                guard let gid = UInt32(g) else { throw OCIFailure("exec --additional-gids \(g): not a number") }
                process.user.additionalGids.append(gid)
            }
            if a.flag("no-new-privs") { process.noNewPrivileges = true }
            var caps = process.capabilities ?? OCIConfig.Capabilities()
            for c in a.all("cap") {
                let name = c.uppercased().hasPrefix("CAP_") ? c.uppercased() : "CAP_" + c.uppercased()
                for k in [\OCIConfig.Capabilities.bounding, \.effective, \.permitted] where !caps[keyPath: k].contains(name) {
                    caps[keyPath: k].append(name)
                }
            }
            process.capabilities = caps
        }
        do {
            return try Self.process(process, seccomp: bundleConfig?.linux?.seccomp,
                                    keepGroups: keepOriginalGroups(bundleConfig?.annotations ?? []))
        } catch {
            throw OCIFailure("exec: \(error.description)")
        }
    }
}
