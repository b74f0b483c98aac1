#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvyroJSON

extension OCIConfig {
    /// The largest config.json `load` reads.
    public static let maxFileBytes = 4 << 20

    /// Reads and checks `<bundle>/config.json`.
    /// - Throws: `OCIError` with an empty path if the file can't be read or isn't JSON,
    ///   otherwise naming the JSON path of the first value envyro refuses.
    public static func load(bundle: String) throws(OCIError) -> OCIConfig {
        let file = bundle.hasSuffix("/") ? "\(bundle)config.json" : "\(bundle)/config.json"
        return try parse(bytes: readDocument(file, maxBytes: maxFileBytes, document: "config.json"))
    }

    /// Checks a config.json document.
    /// - Throws: `OCIError` naming the JSON path of the first value envyro refuses.
    public static func parse(bytes: [UInt8]) throws(OCIError) -> OCIConfig {
        let root = try parseJSON(bytes, document: "config.json")
        return try ConfigSchema.config(OCIReader(document: "config.json", root: root))
    }

    /// Checks a config.json document given as text.
    public static func parse(text: String) throws(OCIError) -> OCIConfig {
        try parse(bytes: Array(text.utf8))
    }
}

/// Reads a whole regular file of at most `maxBytes`, with errors in `document`'s name.
func readDocument(_ path: String, maxBytes: Int, document: String) throws(OCIError) -> [UInt8] {
    func failure(_ what: String, _ code: Int32) -> OCIError {
        let text = strerror(code).map { String(cString: $0) } ?? "errno \(code)"
        return OCIError(document: document, path: "", reason: "cannot \(what) \(path): \(text)")
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
    guard fd >= 0 else { throw failure("open", errno) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure("stat", errno) }
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw OCIError(document: document, path: "", reason: "\(path) is not a regular file")
    }
    let tooLarge = OCIError(document: document, path: "", reason: "\(path) is larger than \(maxBytes >> 20) MiB")
    guard info.st_size <= maxBytes else { throw tooLarge }
    // Read until end of file, stopping one chunk past the limit in case the file grew.
    var buffer: [UInt8] = []
    // A chunk the file's size and one byte (the whole file in one read, and its end in the
    // next), not a zeroed 64 KiB for a 3-30 KB config.json.
    var chunk = [UInt8](repeating: 0, count: min(max(Int(info.st_size) + 1, 4096), 64 << 10))
    buffer.reserveCapacity(Int(info.st_size))
    var total = 0
    while total <= maxBytes {
        let n = chunk.withUnsafeMutableBytes { raw in read(fd, raw.baseAddress, raw.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw failure("read", errno)
        }
        if n == 0 { break }
        buffer.append(contentsOf: chunk[0..<n])
        total += n
    }
    guard total <= maxBytes else { throw tooLarge }
    return buffer
}

/// The config.json schema, one function per object. Each starts with `keys(_:refused:)`
/// listing what it honours and what it refuses by name.
enum ConfigSchema {
    static let notSupported = "not supported by envyro"

    static func config(_ top: OCIReader) throws(OCIError) -> OCIConfig {
        // The version first: a config for another major version should say so.
        let version = try top.string("ociVersion")
        guard version.hasPrefix("1.") else {
            throw top.error("ociVersion", "'\(version)' is not a 1.x runtime-spec version")
        }
        try top.keys(
            ["ociVersion", "root", "hostname", "domainname", "annotations", "mounts", "process", "hooks", "linux"],
            refused: [
                ("windows", "not a Linux config"),
                ("solaris", "not a Linux config"),
                ("vm", "virtual-machine containers are not supported by envyro"),
                ("zos", "not a Linux config"),
            ]
        )
        guard let rootSection = try top.section("root") else { throw top.error("root", "required") }
        try rootSection.keys(["path", "readonly"])
        let rootPath = try rootSection.string("path")
        guard !rootPath.isEmpty else { throw rootSection.error("path", "must not be empty") }

        var mounts: [OCIConfig.Mount] = []
        for (i, m) in try top.objects("mounts").enumerated() {
            let mount = try self.mount(m)
            _ = try mount.lowered(index: i)
            mounts.append(mount)
        }
        let linux = try top.section("linux").map { (s) throws(OCIError) in try self.linux(s) }
        return OCIConfig(
            ociVersion: version,
            root: OCIConfig.Root(path: rootPath, readonly: try rootSection.bool("readonly", default: false)),
            hostname: try top.optionalString("hostname"),
            domainname: try top.optionalString("domainname"),
            annotations: try top.stringMap("annotations"),
            mounts: mounts,
            process: try top.section("process").map { (s) throws(OCIError) in try process(s) },
            hooks: try top.section("hooks").map { (s) throws(OCIError) in try hooks(s) },
            linux: linux
        )
    }

    static func mount(_ m: OCIReader) throws(OCIError) -> OCIConfig.Mount {
        try m.keys(["destination", "type", "source", "options", "uidMappings", "gidMappings"])
        let uid = try idMappings(m, "uidMappings"), gid = try idMappings(m, "gidMappings")
        // One without the other would leave half the ids unmapped (crun refuses it too).
        if uid.isEmpty != gid.isEmpty {
            throw m.error(uid.isEmpty ? "uidMappings" : "gidMappings",
                          "an idmapped mount needs both uidMappings and gidMappings")
        }
        return OCIConfig.Mount(
            destination: try m.string("destination"),
            type: try m.optionalString("type"),
            source: try m.optionalString("source"),
            options: try m.strings("options"),
            uidMappings: uid, gidMappings: gid
        )
    }

    // MARK: process

    static func process(_ p: OCIReader) throws(OCIError) -> OCIConfig.Process {
        try p.keys(
            ["terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
             "noNewPrivileges", "oomScoreAdj", "apparmorProfile", "selinuxLabel", "ioPriority"],
            refused: [
                ("commandLine", "commandLine is for Windows; use args"),
                ("scheduler", "scheduler settings are \(notSupported)"),
                ("execCPUAffinity", "exec CPU affinity is \(notSupported)"),
            ]
        )
        // Only an empty label is accepted: envyro can't apply one and won't pretend to.
        if let profile = try p.optionalString("apparmorProfile"), !profile.isEmpty {
            throw p.error("apparmorProfile", "AppArmor is not supported by envyro (profile '\(profile)')")
        }
        if let label = try p.optionalString("selinuxLabel"), !label.isEmpty {
            throw p.error("selinuxLabel", "SELinux is not supported by envyro (label '\(label)')")
        }

        var consoleSize: OCIConfig.ConsoleSize?
        if let c = try p.section("consoleSize") {
            try c.keys(["height", "width"])
            consoleSize = OCIConfig.ConsoleSize(height: try c.integer("height"), width: try c.integer("width"))
        }

        guard let u = try p.section("user") else { throw p.error("user", "required") }
        try u.keys(["uid", "gid", "umask", "additionalGids"],
                   refused: [("username", "username is for Windows; use uid and gid")])
        let umask: UInt32? = try u.optionalInteger("umask")
        if let umask, umask > 0o777 { throw u.error("umask", "must be at most 0777 (511)") }
        let user = OCIConfig.User(uid: try u.integer("uid"), gid: try u.integer("gid"), umask: umask,
                                  additionalGids: try u.integers("additionalGids"))

        guard p.has("args") else { throw p.error("args", "required") }
        let args = try p.strings("args")
        guard !args.isEmpty else { throw p.error("args", "must not be empty") }
        let env = try p.strings("env")
        for (i, entry) in env.enumerated() {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw p.error("env[\(i)]", "'\(entry)' is not NAME=value")
            }
        }
        let cwd = try p.absolutePath("cwd")

        var oomScoreAdj: Int?
        if p.has("oomScoreAdj") {
            let v: Int = try p.integer("oomScoreAdj")
            guard (-1000...1000).contains(v) else { throw p.error("oomScoreAdj", "\(v) is not between -1000 and 1000") }
            oomScoreAdj = v
        }
        return OCIConfig.Process(
            terminal: try p.bool("terminal", default: false),
            consoleSize: consoleSize,
            user: user,
            args: args,
            env: env,
            cwd: cwd,
            capabilities: try p.section("capabilities").map { (s) throws(OCIError) in try capabilities(s) },
            rlimits: try rlimits(p),
            noNewPrivileges: try p.bool("noNewPrivileges", default: false),
            oomScoreAdj: oomScoreAdj,
            ioPriority: try ioPriority(p)
        )
    }

    static func capabilities(_ c: OCIReader) throws(OCIError) -> OCIConfig.Capabilities {
        try c.keys(OCIConfig.Capabilities.setNames)
        var sets: [[String]] = []
        for set in OCIConfig.Capabilities.setNames {
            let names = try c.strings(set)
            var seen = Set<String>()
            for (i, name) in names.enumerated() {
                guard OCICapabilities.number(of: name) != nil else {
                    var reason = "unknown capability '\(name)'"
                    if let guess = closestMatch(to: name, in: OCICapabilities.names) { reason += " (did you mean '\(guess)'?)" }
                    throw c.error("\(set)[\(i)]", reason)
                }
                guard seen.insert(name).inserted else { throw c.error("\(set)[\(i)]", "'\(name)' is listed twice") }
            }
            sets.append(names)
        }
        return OCIConfig.Capabilities(bounding: sets[0], effective: sets[1], inheritable: sets[2],
                                      permitted: sets[3], ambient: sets[4])
    }

    static func rlimits(_ p: OCIReader) throws(OCIError) -> [OCIConfig.Rlimit] {
        var result: [OCIConfig.Rlimit] = []
        for r in try p.objects("rlimits") {
            try r.keys(["type", "hard", "soft"])
            let type = try r.string("type")
            guard OCIRlimits.resource(of: type) != nil else {
                throw r.error("type", "unknown resource limit '\(type)'")
            }
            guard !result.contains(where: { $0.type == type }) else {
                throw r.error("type", "'\(type)' is set twice")
            }
            let hard: UInt64 = try r.integer("hard")
            let soft: UInt64 = try r.integer("soft")
            guard soft <= hard else { throw r.error("soft", "\(soft) is above the hard limit \(hard)") }
            result.append(OCIConfig.Rlimit(type: type, hard: hard, soft: soft))
        }
        return result
    }

    // MARK: hooks

    static func hooks(_ h: OCIReader) throws(OCIError) -> OCIConfig.Hooks {
        let kinds = OCIConfig.HookKind.allCases
        try h.keys(kinds.map(\.rawValue))
        var hooks = OCIConfig.Hooks()
        for kind in kinds {
            var list: [OCIConfig.Hook] = []
            for entry in try h.objects(kind.rawValue) { list.append(try hook(entry)) }
            hooks[kind] = list
        }
        return hooks
    }

    static func hook(_ h: OCIReader) throws(OCIError) -> OCIConfig.Hook {
        try h.keys(["path", "args", "env", "timeout"])
        var timeout: Int?
        if h.has("timeout") {
            let t: Int = try h.integer("timeout")
            guard t > 0 else { throw h.error("timeout", "must be greater than zero") }
            timeout = t
        }
        return OCIConfig.Hook(path: try h.absolutePath("path"), args: try h.strings("args"),
                              env: try h.strings("env"), timeout: timeout)
    }

    // MARK: linux

    static func linux(_ l: OCIReader) throws(OCIError) -> OCIConfig.Linux {
        try l.keys(
            ["namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources", "sysctl",
             "seccomp", "maskedPaths", "readonlyPaths", "rootfsPropagation", "mountLabel", "personality",
             "timeOffsets", "netDevices"],
            refused: [
                ("intelRdt", "Intel RDT is \(notSupported)"),
                ("memoryPolicy", "NUMA memory policy is \(notSupported)"),
            ]
        )
        if let label = try l.optionalString("mountLabel"), !label.isEmpty {
            throw l.error("mountLabel", "SELinux is not supported by envyro (label '\(label)')")
        }

        var namespaces: [OCIConfig.Namespace] = []
        for n in try l.objects("namespaces") {
            try n.keys(["type", "path"])
            let name = try n.string("type")
            guard let type = OCIConfig.NamespaceType(rawValue: name) else {
                let choices = OCIConfig.NamespaceType.allCases.map(\.rawValue).joined(separator: ", ")
                throw n.error("type", "'\(name)' is not one of: \(choices)")
            }
            guard !namespaces.contains(where: { $0.type == type }) else {
                throw n.error("type", "'\(name)' is listed twice")
            }
            namespaces.append(OCIConfig.Namespace(type: type, path: n.has("path") ? try n.absolutePath("path") : nil))
        }

        let uidMappings = try idMappings(l, "uidMappings")
        let gidMappings = try idMappings(l, "gidMappings")
        if !(uidMappings.isEmpty && gidMappings.isEmpty), !namespaces.contains(where: { $0.type == .user }) {
            throw l.error(uidMappings.isEmpty ? "gidMappings" : "uidMappings", "needs a user namespace in linux.namespaces")
        }

        var seccomp: JSONValue?
        if l.has("seccomp") {
            let profile = try l.value("seccomp")
            guard profile.objectValue != nil else { throw l.error("seccomp", "must be an object") }
            seccomp = profile
        }

        var propagation: String?
        // "" is unset, as runc and crun read it.
        if let name = try l.optionalString("rootfsPropagation"), !name.isEmpty {
            guard OCIMountOptions.propagation(name) != nil else {
                throw l.error("rootfsPropagation",
                              "'\(name)' is not one of: \(OCIMountOptions.propagationNames.joined(separator: ", "))")
            }
            propagation = name
        }

        let sysctl = try l.stringMap("sysctl")
        try checkSysctl(l, sysctl, namespaces: namespaces)
        return OCIConfig.Linux(
            namespaces: namespaces,
            uidMappings: uidMappings,
            gidMappings: gidMappings,
            devices: try devices(l),
            cgroupsPath: try l.optionalString("cgroupsPath"),
            resources: try l.section("resources").map { (s) throws(OCIError) in try resources(s) },
            sysctl: sysctl,
            seccomp: seccomp,
            maskedPaths: try l.absolutePaths("maskedPaths"),
            readonlyPaths: try l.absolutePaths("readonlyPaths"),
            rootfsPropagation: propagation,
            personality: try personality(l),
            timeOffsets: try timeOffsets(l, namespaces: namespaces),
            netDevices: try netDevices(l, namespaces: namespaces)
        )
    }

    static func idMappings(_ l: OCIReader, _ key: String) throws(OCIError) -> [OCIConfig.IDMapping] {
        var result: [OCIConfig.IDMapping] = []
        for m in try l.objects(key) {
            try m.keys(["containerID", "hostID", "size"])
            let size: UInt32 = try m.integer("size")
            guard size > 0 else { throw m.error("size", "must be at least 1") }
            let mapping = OCIConfig.IDMapping(containerID: try m.integer("containerID"), hostID: try m.integer("hostID"), size: size)
            guard UInt64(mapping.containerID) + UInt64(size) <= 1 << 32, UInt64(mapping.hostID) + UInt64(size) <= 1 << 32 else {
                throw m.error("size", "the range runs past id 4294967295")
            }
            result.append(mapping)
        }
        return result
    }

    static func devices(_ l: OCIReader) throws(OCIError) -> [OCIConfig.Device] {
        var result: [OCIConfig.Device] = []
        for d in try l.objects("devices") {
            try d.keys(["type", "path", "major", "minor", "fileMode", "uid", "gid"])
            let type = try d.string("type")
            guard ["c", "b", "u", "p"].contains(type) else {
                throw d.error("type", "'\(type)' is not one of: c, b, u, p")
            }
            let device = OCIConfig.Device(
                type: type, path: try d.absolutePath("path"),
                major: try d.optionalInteger("major"), minor: try d.optionalInteger("minor"),
                fileMode: try d.optionalInteger("fileMode"), uid: try d.optionalInteger("uid"), gid: try d.optionalInteger("gid"))
            if type != "p" {
                guard device.major != nil else { throw d.error("major", "required for a '\(type)' device") }
                guard device.minor != nil else { throw d.error("minor", "required for a '\(type)' device") }
            }
            result.append(device)
        }
        return result
    }

    // MARK: resources

    static func resources(_ r: OCIReader) throws(OCIError) -> OCIConfig.Resources {
        try r.keys(
            ["devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "unified"],
            refused: [
                ("network", "network classID and priorities are \(notSupported)"),
                ("rdma", "the rdma cgroup is \(notSupported)"),
            ]
        )
        var rules: [OCIConfig.DeviceRule] = []
        for d in try r.objects("devices") {
            try d.keys(["allow", "type", "major", "minor", "access"])
            let type = try d.optionalString("type")
            if let type, !["a", "c", "b"].contains(type) { throw d.error("type", "'\(type)' is not one of: a, c, b") }
            let access = try d.optionalString("access")
            if let access {
                var seen = Set<Character>()
                for c in access where !"rwm".contains(c) || !seen.insert(c).inserted {
                    throw d.error("access", "'\(access)' must be made of r, w and m, each at most once")
                }
            }
            rules.append(OCIConfig.DeviceRule(allow: try d.bool("allow"), type: type,
                                              major: try d.optionalInteger("major"), minor: try d.optionalInteger("minor"),
                                              access: access))
        }

        var memory: OCIConfig.Memory?
        if let m = try r.section("memory") {
            try m.keys(["limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
                        "useHierarchy", "checkBeforeUpdate"])
            let swappiness: UInt64? = try m.optionalInteger("swappiness")
            if let swappiness, swappiness > 100 { throw m.error("swappiness", "\(swappiness) is above 100") }
            memory = OCIConfig.Memory(
                limit: try m.optionalInteger("limit"), reservation: try m.optionalInteger("reservation"),
                swap: try m.optionalInteger("swap"), kernel: try m.optionalInteger("kernel"),
                kernelTCP: try m.optionalInteger("kernelTCP"), swappiness: swappiness,
                disableOOMKiller: try m.optionalBool("disableOOMKiller"), useHierarchy: try m.optionalBool("useHierarchy"),
                checkBeforeUpdate: try m.optionalBool("checkBeforeUpdate"))
        }

        var cpu: OCIConfig.CPU?
        if let c = try r.section("cpu") {
            try c.keys(["shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"])
            cpu = OCIConfig.CPU(
                shares: try c.optionalInteger("shares"), quota: try c.optionalInteger("quota"),
                burst: try c.optionalInteger("burst"), period: try c.optionalInteger("period"),
                realtimeRuntime: try c.optionalInteger("realtimeRuntime"), realtimePeriod: try c.optionalInteger("realtimePeriod"),
                cpus: try c.optionalString("cpus"), mems: try c.optionalString("mems"), idle: try c.optionalInteger("idle"))
        }

        var pids: OCIConfig.Pids?
        if let p = try r.section("pids") {
            try p.keys(["limit"])
            pids = OCIConfig.Pids(limit: try p.integer("limit"))
        }

        var hugepages: [OCIConfig.HugepageLimit] = []
        for h in try r.objects("hugepageLimits") {
            try h.keys(["pageSize", "limit"])
            hugepages.append(OCIConfig.HugepageLimit(pageSize: try h.string("pageSize"), limit: try h.integer("limit")))
        }

        return OCIConfig.Resources(
            devices: rules, memory: memory, cpu: cpu, pids: pids,
            blockIO: try r.section("blockIO").map { (s) throws(OCIError) in try blockIO(s) },
            hugepageLimits: hugepages, unified: try r.stringMap("unified"))
    }

    static func blockIO(_ b: OCIReader) throws(OCIError) -> OCIConfig.BlockIO {
        let throttles = ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"]
        try b.keys(["weight", "leafWeight", "weightDevice"] + throttles)
        var weights: [OCIConfig.WeightDevice] = []
        for w in try b.objects("weightDevice") {
            try w.keys(["major", "minor", "weight", "leafWeight"])
            weights.append(OCIConfig.WeightDevice(major: try w.integer("major"), minor: try w.integer("minor"),
                                                  weight: try w.optionalInteger("weight"), leafWeight: try w.optionalInteger("leafWeight")))
        }
        var lists: [[OCIConfig.ThrottleDevice]] = []
        for key in throttles {
            var list: [OCIConfig.ThrottleDevice] = []
            for t in try b.objects(key) {
                try t.keys(["major", "minor", "rate"])
                list.append(OCIConfig.ThrottleDevice(major: try t.integer("major"), minor: try t.integer("minor"), rate: try t.integer("rate")))
            }
            lists.append(list)
        }
        return OCIConfig.BlockIO(
            weight: try b.optionalInteger("weight"), leafWeight: try b.optionalInteger("leafWeight"),
            weightDevice: weights, throttleReadBpsDevice: lists[0], throttleWriteBpsDevice: lists[1],
            throttleReadIOPSDevice: lists[2], throttleWriteIOPSDevice: lists[3])
    }
}
