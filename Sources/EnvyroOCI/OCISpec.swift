import EnvyroJSON

/// The starter config.json that `envyro spec [--rootless]` writes, shaped like `runc spec`.
public enum OCISpec {
    /// runc's default masked paths.
    public static let defaultMaskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ]

    /// runc's default read-only paths.
    public static let defaultReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// runc's default capabilities for the first process.
    public static let defaultCapabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

    /// The default config.json as pretty-printed JSON.
    ///
    /// With `rootless`, it changes what `runc spec --rootless` changes: a user namespace
    /// mapping container root to `uid`/`gid`, no network namespace (so /sys is the host's,
    /// bound recursively and read-only, since a new sysfs needs one), no `uid=`/`gid=` mount
    /// options, and no `linux.resources`.
    /// - Parameters:
    ///   - rootless: write the rootless variant.
    ///   - uid: the caller's user id, the host side of the uid map (rootless only).
    ///   - gid: the caller's group id, the host side of the gid map (rootless only).
    public static func defaultConfig(rootless: Bool, uid: UInt32 = 0, gid: UInt32 = 0) -> String {
        document(rootless: rootless, uid: uid, gid: gid).serialized(pretty: true)
    }

    /// The default config.json as a JSON value; see `defaultConfig(rootless:uid:gid:)`.
    public static func document(rootless: Bool, uid: UInt32 = 0, gid: UInt32 = 0) -> JSONValue {
        func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        let caps = strings(defaultCapabilities)
        let process: JSONValue = [
            "terminal": true,
            "user": ["uid": 0, "gid": 0],
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": ["bounding": caps, "effective": caps, "permitted": caps, "ambient": caps],
            "rlimits": [["type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024]],
            "noNewPrivileges": true,
        ]

        var mounts: [JSONValue] = [
            mount("/proc", "proc", "proc", []),
            mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", "devpts",
                  ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] + (rootless ? [] : ["gid=5"])),
            mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        ]
        if rootless {
            mounts.append(mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"]))
        } else {
            mounts.append(mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]))
        }
        mounts.append(mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]))

        let namespaceTypes: [OCIConfig.NamespaceType] =
            rootless ? [.pid, .ipc, .uts, .mount, .cgroup, .user] : [.pid, .network, .ipc, .uts, .mount, .cgroup]
        var linux = JSONObject()
        if rootless {
            linux.set("uidMappings", [["containerID": 0, "hostID": .int(Int64(uid)), "size": 1]])
            linux.set("gidMappings", [["containerID": 0, "hostID": .int(Int64(gid)), "size": 1]])
        } else {
            linux.set("resources", ["devices": [["allow": false, "access": "rwm"]]])
        }
        linux.set("namespaces", .array(namespaceTypes.map { ["type": .string($0.rawValue)] }))
        linux.set("maskedPaths", strings(defaultMaskedPaths))
        linux.set("readonlyPaths", strings(defaultReadonlyPaths))

        let document: JSONObject = [
            "ociVersion": "1.0.2",
            "process": process,
            "root": ["path": "rootfs", "readonly": true],
            "hostname": "envyro",
            "mounts": .array(mounts),
            "linux": .object(linux),
        ]
        return .object(document)
    }

    static func mount(_ destination: String, _ type: String, _ source: String, _ options: [String]) -> JSONValue {
        var o: JSONObject = ["destination": .string(destination), "type": .string(type), "source": .string(source)]
        if !options.isEmpty { o.set("options", .array(options.map { .string($0) })) }
        return .object(o)
    }
}
