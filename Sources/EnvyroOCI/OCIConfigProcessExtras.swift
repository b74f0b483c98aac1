// The process-level settings of issue 17 that are not about the user or capabilities:
// `process.ioPriority`, `linux.personality`, `linux.timeOffsets` (a time namespace),
// `linux.netDevices`, and which namespace each `linux.sysctl` key belongs to. The types, and
// the reader functions ConfigSchema calls for them.

extension OCIConfig {
    /// `process.ioPriority`: the I/O scheduling class and level set with ioprio_set(2).
    public struct IOPriority: Sendable, Equatable {
        /// `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE` or `IOPRIO_CLASS_IDLE`.
        public var ioClass: String
        /// 0 (highest) ... 7 (lowest).
        public var priority: Int

        /// Creates an I/O priority.
        public init(ioClass: String, priority: Int) {
            self.ioClass = ioClass
            self.priority = priority
        }

        /// The class names and their kernel numbers (linux/ioprio.h).
        public static let classes: [(name: String, number: Int32)] = [
            ("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2), ("IOPRIO_CLASS_IDLE", 3),
        ]

        /// The ioprio_set value: class << 13 | level (IOPRIO_PRIO_VALUE).
        public var value: Int32 {
            let number = Self.classes.first { $0.name == ioClass }?.number ?? 0
            return number << 13 | Int32(priority)
        }
    }

    /// `linux.personality`: the execution domain (personality(2)).
    public struct Personality: Sendable, Equatable {
        /// `LINUX` or `LINUX32`.
        public var domain: String
        /// Additional flags; the spec defines none, so the reader only lets an empty list through.
        public var flags: [String]

        /// Creates a personality.
        public init(domain: String, flags: [String] = []) {
            self.domain = domain
            self.flags = flags
        }

        /// The domains and their personality(2) numbers (PER_LINUX, PER_LINUX32).
        public static let domains: [(name: String, number: UInt32)] = [("LINUX", 0), ("LINUX32", 0x0008)]

        /// The personality(2) argument.
        public var value: UInt32 { Self.domains.first { $0.name == domain }?.number ?? 0 }
    }

    /// One entry of `linux.timeOffsets`: how far a clock of the new time namespace is ahead.
    public struct TimeOffset: Sendable, Equatable {
        /// `monotonic` or `boottime`.
        public var clock: String
        /// Seconds (may be negative).
        public var secs: Int64
        /// Nanoseconds, 0...999999999.
        public var nanosecs: UInt32

        /// Creates an offset.
        public init(clock: String, secs: Int64, nanosecs: UInt32 = 0) {
            self.clock = clock
            self.secs = secs
            self.nanosecs = nanosecs
        }

        /// The clocks a time namespace offsets.
        public static let clocks = ["monotonic", "boottime"]

        /// Its line in /proc/self/timens_offsets ("monotonic 86400 0").
        public var line: String { "\(clock) \(secs) \(nanosecs)" }
    }

    /// One entry of `linux.netDevices` (runtime-spec 1.2): a host interface moved into the
    /// container's network namespace, under `name` there.
    public struct NetDevice: Sendable, Equatable {
        /// The interface's name on the host (the map's key).
        public var hostName: String
        /// Its name in the container; the host name when not given.
        public var name: String

        /// Creates a device entry.
        public init(hostName: String, name: String) {
            self.hostName = hostName
            self.name = name
        }

        /// Whether `s` can name a network interface: 1-15 bytes (IFNAMSIZ), no '/', ':' or
        /// whitespace, not "." or "..", as dev_valid_name says.
        public static func isValidName(_ s: String) -> Bool {
            let bytes = Array(s.utf8)
            guard !bytes.isEmpty, bytes.count < 16, s != ".", s != ".." else { return false }
            return !bytes.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f }
        }
    }

    /// The namespace a `linux.sysctl` key is set in, as runc and crun tell them apart: IPC
    /// keys (System V and POSIX message queues), `net.*`, and the UTS names; nil for a key that
    /// is not namespaced (it would change the host).
    public static func sysctlNamespace(_ key: String) -> NamespaceType? {
        let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                   "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]
        if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { return .ipc }
        if key.hasPrefix("net.") { return .network }
        if key == "kernel.hostname" || key == "kernel.domainname" { return .uts }
        return nil
    }
}

extension ConfigSchema {
    static func ioPriority(_ p: OCIReader) throws(OCIError) -> OCIConfig.IOPriority? {
        guard let io = try p.section("ioPriority") else { return nil }
        try io.keys(["class", "priority"])
        let name = try io.string("class")
        let names = OCIConfig.IOPriority.classes.map(\.name)
        guard names.contains(name) else { throw io.error("class", "'\(name)' is not one of: \(names.joined(separator: ", "))") }
        let level: Int = try io.integer("priority")
        guard (0...7).contains(level) else { throw io.error("priority", "\(level) is not between 0 and 7") }
        return OCIConfig.IOPriority(ioClass: name, priority: level)
    }

    static func personality(_ l: OCIReader) throws(OCIError) -> OCIConfig.Personality? {
        guard let s = try l.section("personality") else { return nil }
        try s.keys(["domain", "flags"])
        let domain = try s.string("domain")
        let names = OCIConfig.Personality.domains.map(\.name)
        guard names.contains(domain) else { throw s.error("domain", "'\(domain)' is not one of: \(names.joined(separator: ", "))") }
        let flags = try s.strings("flags")
        if let first = flags.first { throw s.error("flags[0]", "'\(first)': the runtime-spec defines no personality flags") }
        return OCIConfig.Personality(domain: domain, flags: flags)
    }

    /// `linux.timeOffsets`; they need a time namespace the container creates (offsets can only
    /// be written before any process is in it).
    static func timeOffsets(_ l: OCIReader, namespaces: [OCIConfig.Namespace]) throws(OCIError) -> [OCIConfig.TimeOffset] {
        guard let s = try l.section("timeOffsets") else { return [] }
        try s.keys(OCIConfig.TimeOffset.clocks)
        var result: [OCIConfig.TimeOffset] = []
        for clock in OCIConfig.TimeOffset.clocks {
            guard let c = try s.section(clock) else { continue }
            try c.keys(["secs", "nanosecs"])
            let nanos: UInt32 = try c.optionalInteger("nanosecs") ?? 0
            guard nanos < 1_000_000_000 else { throw c.error("nanosecs", "\(nanos) is not below 1000000000") }
            result.append(OCIConfig.TimeOffset(clock: clock, secs: try c.optionalInteger("secs") ?? 0, nanosecs: nanos))
        }
        if !result.isEmpty {
            guard let time = namespaces.first(where: { $0.type == .time }) else {
                throw l.error("timeOffsets", "needs a time namespace in linux.namespaces")
            }
            guard time.path == nil else {
                throw l.error("timeOffsets", "needs a new time namespace: the offsets of one joined by path (\(time.path!)) are already fixed")
            }
        }
        return result
    }

    static func netDevices(_ l: OCIReader, namespaces: [OCIConfig.Namespace]) throws(OCIError) -> [OCIConfig.NetDevice] {
        guard let s = try l.section("netDevices") else { return [] }
        var result: [OCIConfig.NetDevice] = []
        for (host, _) in s.object {
            guard OCIConfig.NetDevice.isValidName(host) else { throw s.error(host, "'\(host)' is not a network interface name") }
            guard let d = try s.section(host) else { throw s.error(host, "must be an object") }
            try d.keys(["name"])
            let name = try d.optionalString("name") ?? host
            guard OCIConfig.NetDevice.isValidName(name) else { throw d.error("name", "'\(name)' is not a network interface name") }
            guard !result.contains(where: { $0.name == name }) else { throw d.error("name", "'\(name)' is given to two devices") }
            result.append(OCIConfig.NetDevice(hostName: host, name: name))
        }
        if !result.isEmpty, !namespaces.contains(where: { $0.type == .network }) {
            throw l.error("netDevices", "needs a network namespace in linux.namespaces (the devices would stay on the host)")
        }
        return result
    }

    /// Each `linux.sysctl` key must belong to a namespace the container has of its own (created,
    /// or joined by path), as runc and crun check: otherwise it would change the host.
    static func checkSysctl(_ l: OCIReader, _ sysctl: [OCIKeyValue], namespaces: [OCIConfig.Namespace]) throws(OCIError) {
        for kv in sysctl {
            guard let type = OCIConfig.sysctlNamespace(kv.key) else {
                throw l.error("sysctl.\(kv.key)", "'\(kv.key)' is not namespaced: setting it would change the host")
            }
            guard namespaces.contains(where: { $0.type == type }) else {
                let name = type == .network ? "a network" : type == .ipc ? "an IPC" : "a UTS"
                throw l.error("sysctl.\(kv.key)", "'\(kv.key)' needs \(name) namespace of the container's own (linux.namespaces has none): it would change the host's")
            }
        }
    }
}
