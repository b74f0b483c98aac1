// The process settings of issue 17 on the wire, appended to WireProcess and OCICreateRequest
// (OCIMessages.swift) after every older field:
//
//   WireProcessExtras:  ioPriority i32 (-1: leave it) | personality u32 | hasPersonality bool
//                       | keepGroups bool | preserveFDs u32
//   OCICreateExtras:    newTimeNamespace bool | timeNamespacePath string | timeOffsets string
//                       list ("monotonic SECS NANOS") | netDevices (u32 count + host + name)

/// What an OCI process (a bundle's first, or an exec'd one) gets besides its user and
/// capabilities.
public struct WireProcessExtras: Sendable, Equatable {
    /// process.ioPriority as ioprio_set's value (class << 13 | level), or -1 to leave it.
    public var ioPriority: Int32
    /// linux.personality as personality(2)'s argument, when given.
    public var personality: UInt32?
    /// Keep the caller's supplementary groups (crun's `run.oci.keep_original_groups`): no
    /// setgroups call at all, additionalGids are not applied.
    public var keepGroups: Bool
    /// `--preserve-fds N`: the N descriptors after stdio that came with the request become
    /// fds 3...3+N-1 of the process.
    public var preserveFDs: UInt32

    /// The most descriptors `--preserve-fds` may pass (SCM_RIGHTS carries at most 253 per
    /// message, and the request's own fds travel with them).
    public static let maxPreservedFDs: UInt32 = 240

    /// Memberwise initialiser.
    public init(ioPriority: Int32 = -1, personality: UInt32? = nil, keepGroups: Bool = false, preserveFDs: UInt32 = 0) {
        self.ioPriority = ioPriority; self.personality = personality; self.keepGroups = keepGroups; self.preserveFDs = preserveFDs
    }

    func encode(into w: inout WireWriter) {
        w.i32(ioPriority); w.u32(personality ?? 0); w.bool(personality != nil); w.bool(keepGroups); w.u32(preserveFDs)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> WireProcessExtras {
        let io = try r.i32("ioPriority"), persona = try r.u32("personality"), hasPersona = try r.bool("hasPersonality")
        if !hasPersona && persona != 0 { throw .invalidValue(field: "personality", reason: "\(persona) given with hasPersonality false") }
        return WireProcessExtras(ioPriority: io, personality: hasPersona ? persona : nil, keepGroups: try r.bool("keepGroups"),
                                 preserveFDs: try r.u32("preserveFDs"))
    }

    func validate() throws(ProtocolError) {
        if ioPriority != -1 {
            guard ioPriority >= 0, (1...3).contains(ioPriority >> 13), ioPriority & 0x1fff <= 7 else {
                throw .invalidValue(field: "ioPriority", reason: "\(ioPriority) is not class 1-3 with level 0-7")
            }
        }
        guard preserveFDs <= Self.maxPreservedFDs else {
            throw .invalidValue(field: "preserveFDs", reason: "more than \(Self.maxPreservedFDs)")
        }
    }
}

/// One `linux.netDevices` entry: a host interface and its name in the container.
public struct WireNetDevice: Sendable, Equatable {
    /// The interface's name on the host.
    public var hostName: String
    /// Its name in the container's network namespace.
    public var name: String

    /// Memberwise initialiser.
    public init(hostName: String, name: String) { self.hostName = hostName; self.name = name }

    /// 1-15 bytes, no '/', ':' or whitespace, not "." or ".." (the kernel's dev_valid_name).
    static func isValid(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard !b.isEmpty, b.count < 16, s != ".", s != ".." else { return false }
        return !b.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f }
    }
}

/// What an OCI create asks for besides mounts, devices and the process.
public struct OCICreateExtras: Sendable, Equatable {
    /// Create a time namespace (unshare(CLONE_NEWTIME) in the child, before its exec).
    public var newTimeNamespace: Bool
    /// A time namespace to join (setns), or "".
    public var timeNamespacePath: String
    /// Lines for /proc/self/timens_offsets, written before the exec enters the namespace.
    public var timeOffsets: [String]
    /// Host interfaces to move into the container's network namespace.
    public var netDevices: [WireNetDevice]

    /// Memberwise initialiser.
    public init(newTimeNamespace: Bool = false, timeNamespacePath: String = "", timeOffsets: [String] = [],
                netDevices: [WireNetDevice] = []) {
        self.newTimeNamespace = newTimeNamespace; self.timeNamespacePath = timeNamespacePath
        self.timeOffsets = timeOffsets; self.netDevices = netDevices
    }

    func encode(into w: inout WireWriter) {
        w.bool(newTimeNamespace); w.string(timeNamespacePath); w.strings(timeOffsets)
        w.u32(UInt32(truncatingIfNeeded: netDevices.count))
        for d in netDevices { w.string(d.hostName); w.string(d.name) }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> OCICreateExtras {
        let new = try r.bool("newTimeNamespace"), path = try r.string("timeNamespacePath"), offsets = try r.strings("timeOffsets")
        let n = try r.u32("netDevices")
        guard n <= 64 else { throw .invalidValue(field: "netDevices", reason: "more than 64") }
        var devices: [WireNetDevice] = []
        for _ in 0..<n { devices.append(WireNetDevice(hostName: try r.string("netDevices.hostName"), name: try r.string("netDevices.name"))) }
        return OCICreateExtras(newTimeNamespace: new, timeNamespacePath: path, timeOffsets: offsets, netDevices: devices)
    }

    func validate() throws(ProtocolError) {
        guard !(newTimeNamespace && !timeNamespacePath.isEmpty) else {
            throw .invalidValue(field: "timeNamespacePath", reason: "a time namespace can't be both joined and created")
        }
        guard timeNamespacePath.isEmpty || timeNamespacePath.utf8.first == UInt8(ascii: "/") else {
            throw .invalidValue(field: "timeNamespacePath", reason: "not absolute")
        }
        try checkString(timeNamespacePath, "timeNamespacePath")
        guard timeOffsets.isEmpty || newTimeNamespace else {
            throw .invalidValue(field: "timeOffsets", reason: "offsets need a new time namespace")
        }
        for (i, line) in timeOffsets.enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 3, ["monotonic", "boottime"].contains(parts[0]), Int64(parts[1]) != nil,
                  let nanos = UInt32(parts[2]), nanos < 1_000_000_000 else {
                throw .invalidValue(field: "timeOffsets[\(i)]", reason: "must be 'monotonic|boottime SECS NANOS'")
            }
        }
        for (i, d) in netDevices.enumerated() where !WireNetDevice.isValid(d.hostName) || !WireNetDevice.isValid(d.name) {
            throw .invalidValue(field: "netDevices[\(i)]", reason: "not an interface name")
        }
    }
}
