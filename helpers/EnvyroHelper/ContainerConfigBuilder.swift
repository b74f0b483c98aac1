// The C side of a spawn: `envyro_container_config` (and `envyro_exec_config`) and everything
// they point to, owned by one object and freed when it goes.
//
// Why this shape: the child gets a copy of the parent's address space at clone, so the memory
// must live until clone (or envyro_container_exec) returns in the parent, and no longer. One
// owner whose deinit frees everything replaces a list of deferred deallocations per array, and
// every failure path (a refused cgroup, a namespace path that can't be opened) frees the same
// way as success. Nothing here makes a syscall but `close` of the descriptors it adopted.
import CEnvyro
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// C memory (NUL-terminated strings, NULL-terminated string arrays, arrays of C structs) and
/// descriptors that live exactly as long as this object.
final class ConfigMemory {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var descriptors: [Int32] = []
    /// Lists the config points into, kept as long as the config.
    private var retained: [SecretStrings] = []
    /// Blocks allocated so far (the test hook counts them against `onRelease`).
    var allocations: Int { blocks.count }
    /// Called from deinit with the number of blocks freed (a test hook).
    var onRelease: ((Int) -> Void)?

    deinit {
        for b in blocks { b.deallocate() }
        for fd in descriptors { close(fd) }
        onRelease?(blocks.count)
    }

    /// A NUL-terminated copy of `s` (up to its first NUL, as strdup copies).
    func string(_ s: String) -> UnsafePointer<CChar> {
        s.withCString { source in
            let n = strlen(source) + 1
            let p = raw(byteCount: n, alignment: 1)
            p.copyMemory(from: source, byteCount: n)
            return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
        }
    }

    /// A NULL-terminated array of copies of `list`.
    func strings(_ list: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let a = values(list.map { Optional(string($0)) } + [nil])
        return a
    }

    /// A NULL-terminated array of pointers into `list`'s own bytes (a run's argv and env: not
    /// copied, so nothing here needs zeroing; `list` is kept alive with this memory).
    func pointers(into list: SecretStrings) -> UnsafePointer<UnsafePointer<CChar>?> {
        retained.append(list)
        return values((0..<list.count).map { Optional(list.cString(at: $0)) } + [nil])
    }

    /// A copy of `list` (at least one element's room, so the pointer is never dangling).
    func values<T>(_ list: [T]) -> UnsafePointer<T> {
        let p = raw(byteCount: max(list.count, 1) * MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
        let typed = p.bindMemory(to: T.self, capacity: max(list.count, 1))
        for (i, v) in list.enumerated() { (typed + i).initialize(to: v) }
        return UnsafePointer(typed)
    }

    /// Seccomp programs as `envyro_bpf` entries over copies of their bytes.
    func filters(_ programs: [(bpf: [UInt8], flags: UInt32)]) -> (UnsafePointer<envyro_bpf>, Int32) {
        let entries = programs.map { p -> envyro_bpf in
            let m = raw(byteCount: max(p.bpf.count, 8), alignment: 8)
            p.bpf.withUnsafeBytes { m.copyMemory(from: $0.baseAddress!, byteCount: p.bpf.count) }
            return envyro_bpf(data: UnsafeRawPointer(m), length: UInt32(p.bpf.count), flags: p.flags)
        }
        return (values(entries), Int32(programs.count))
    }

    /// Takes `fd`: closed when this memory is freed (after clone: the child has its own copy).
    func adopt(_ fd: Int32) { descriptors.append(fd) }

    private func raw(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
        blocks.append(p)
        return p
    }
}

/// Lowers a `SpawnPlan` into `envyro_container_config`, owning the C memory it builds (see
/// `ConfigMemory`): keep the builder alive until clone has returned.
final class ContainerConfigBuilder {
    let memory = ConfigMemory()
    /// The config; its pointers are into `memory`.
    var config: envyro_container_config

    /// The plan's fields that need no syscall: names, paths, argv, env, flags, capabilities.
    /// `stdio` is used when the plan says so (three descriptors); otherwise -1s.
    init(_ plan: SpawnPlan, stdio: [Int32]) {
        let m = memory
        let io = plan.usesStdio && stdio.count == 3 ? stdio : [-1, -1, -1]
        config = envyro_container_config(
            clone_flags: plan.cloneFlags,
            stdio: (io[0], io[1], io[2]),
            hostname: plan.hostname.map { m.string($0) },
            rootfs: plan.rootfs.map { m.string($0) },
            rootfs_readonly: plan.rootfsReadonly ? 1 : 0,
            host_binds: m.strings(defaultHostBinds),
            cwd: m.string(plan.cwd),
            argv: m.pointers(into: plan.argv),
            envp: m.pointers(into: plan.env),
            // Inside env's PATH entry, or a copy of the default.
            search_path: SpawnPlan.searchPathInside(plan.env) ?? m.string(SpawnPlan.defaultSearchPath),
            loopback_up: plan.loopbackUp ? 1 : 0,
            use_init: plan.useInit ? 1 : 0,
            no_new_privs: plan.noNewPrivileges ? 1 : 0,
            cap_keep: plan.capabilities.rawValue, cap_ambient: plan.ambient ? 1 : 0,
            filters: nil, filter_count: 0,
            masked_paths: m.strings(plan.maskedPaths), readonly_paths: m.strings(plan.readonlyPaths),
            prewarm: plan.prewarm ? 1 : 0, cgroup_procs: nil, cgroup_procs_count: 0,
            cgroup2_fd: -1, cgroup2_procs_fd: -1, oci: nil,
            netns_fd: -1, netns_home_fd: -1, rlimits: nil, rlimit_count: 0)
    }

    /// Limits carried by rlimits instead of a cgroup (`LimitFallback`): set after pivot_root.
    func setRlimits(_ limits: [envyro_rlimit]) {
        config.rlimits = memory.values(limits)
        config.rlimit_count = Int32(limits.count)
    }

    /// The seccomp programs, installed in order: the policy's compiled filter, then the plan's.
    func setFilters(policy: SeccompProgram?, _ plan: SpawnPlan) {
        var programs: [(bpf: [UInt8], flags: UInt32)] = []
        if let f = policy { programs.append((f.bpf, f.installFlags)) }
        for p in plan.extraFilters { programs.append((p, 0)) }
        let (array, count) = memory.filters(programs)
        config.filters = array
        config.filter_count = count
    }

    /// The join files the child writes itself into, and the cgroup2 directory it is cloned into
    /// (adopted: closed with the memory).
    func setCgroupJoin(_ join: CgroupJoinFiles) {
        for fd in join.procs where !join.kept.contains(fd) { memory.adopt(fd) }
        config.cgroup_procs = memory.values(join.procs)
        config.cgroup_procs_count = Int32(join.procs.count)
        if let v2 = join.cgroup2 {
            if !join.kept.contains(v2.directory) { memory.adopt(v2.directory) }
            config.cgroup2_fd = v2.directory
            config.cgroup2_procs_fd = v2.procs
        }
    }

    /// Clones into a pooled network namespace instead of a new one (`home`: the helper's own).
    func usePooledNetns(_ fd: Int32, home: Int32) {
        config.clone_flags &= ~ENVYRO_CLONE_NEWNET
        config.loopback_up = 0
        config.netns_fd = fd
        config.netns_home_fd = home
    }

    /// The OCI part: mounts, devices, user, rlimits, sysctls, joined namespaces (`joinFDs`,
    /// opened already and adopted here, user first), start socket and console. `treeFDs`: per
    /// mount, the idmapped clone made for it or -1 (adopted here too).
    func setOCI(_ plan: OCIPlan, joinFDs: [(fd: Int32, kind: NamespaceSet)], treeFDs: [Int32] = []) {
        let m = memory, r = plan.request, p = r.process
        for j in joinFDs { m.adopt(j.fd) }
        for fd in treeFDs where fd >= 0 { m.adopt(fd) }
        var c = envyro_oci_config()
        c.mounts = m.values(r.mounts.enumerated().map { i, mount in
            envyro_mount(
                source: mount.source.isEmpty ? nil : m.string(mount.source), destination: m.string(mount.destination),
                fstype: mount.fstype.isEmpty ? nil : m.string(mount.fstype), flags: UInt(mount.flags),
                propagation: UInt(mount.propagation), data: mount.data.isEmpty ? nil : m.string(mount.data),
                attr_set: mount.attrSet, attr_clr: mount.attrClear, extra: mount.extra,
                tree_fd: i < treeFDs.count ? treeFDs[i] : -1)
        })
        c.mount_count = Int32(r.mounts.count)
        c.devices = m.values(r.devices.map { d in
            envyro_device(path: m.string(d.path), mode: d.mode, major: d.major, minor: d.minor, uid: d.uid, gid: d.gid)
        })
        c.device_count = Int32(r.devices.count)
        c.rlimits = m.values(p.rlimits.map { envyro_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) })
        c.rlimit_count = Int32(p.rlimits.count)
        c.sysctls = m.values(r.sysctl.map { kv in
            let parts = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return envyro_sysctl(key: m.string(String(parts[0])), value: m.string(parts.count > 1 ? String(parts[1]) : ""))
        })
        c.sysctl_count = Int32(r.sysctl.count)
        c.rootfs_propagation = UInt(r.rootfsPropagation)
        c.domainname = r.domainname.isEmpty ? nil : m.string(r.domainname)
        c.uid = p.uid
        c.gid = p.gid
        c.additional_gids = m.values(p.additionalGids)
        c.additional_gid_count = Int32(p.additionalGids.count)
        c.umask = p.umask
        c.cap_bounding = p.capBounding
        c.cap_effective = p.capEffective
        c.cap_permitted = p.capPermitted
        c.cap_inheritable = p.capInheritable
        c.cap_ambient = p.capAmbient
        c.join_fds = m.values(joinFDs.map(\.fd))
        c.join_types = m.values(joinFDs.map { $0.kind.cloneFlags })
        c.join_count = Int32(joinFDs.count)
        c.detached = 1
        c.start_fd = plan.startFD
        c.console_fd = plan.consoleFD
        c.console_rows = p.consoleRows
        c.console_cols = p.consoleCols
        c.setExtras(p.extras, preserved: plan.preservedFDs, memory: m)
        let x = r.extras
        c.new_timens = x.newTimeNamespace ? 1 : 0
        c.time_ns_fd = plan.timeNamespaceFD
        c.time_offsets = x.timeOffsets.isEmpty ? nil : m.string(x.timeOffsets.map { $0 + "\n" }.joined())
        c.hook_pause = r.pausesForHooks ? 1 : 0
        config.oci = m.values([c])
    }
}
