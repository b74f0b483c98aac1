import CEnvyro

/// A set of Linux capabilities: bit n is capability n (`linux/capability.h`), as in the kernel's
/// masks, the helper's `cap_keep` and the wire's capability fields. The members are built from
/// `cenvyro.h`'s `ENVYRO_CAP_*` numbers, which the C build checks against the kernel's headers,
/// so no capability number is typed in Swift.
public struct CapabilitySet: OptionSet, Sendable, Hashable {
    /// The kernel's mask: bit n is capability n.
    public var rawValue: UInt64
    /// The set whose mask is `rawValue`.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// The set of capability `number` alone (0 up to 63; the kernel defines up to `lastNumber`).
    public init(number: Int32) { self.rawValue = 1 << UInt64(number) }

    /// The set of the capabilities named (`"CAP_SYS_ADMIN"`, spelled exactly); names that are not
    /// capabilities are left out (callers validate names where they are read).
    public init(names: some Sequence<String>) {
        self = names.reduce(into: []) { set, name in if let n = Self.number(of: name) { set.insert(Self(number: n)) } }
    }

    /// The names of the capabilities in the set, in number order.
    public var names: [String] { Self.allNames.indices.filter { rawValue & (1 << UInt64($0)) != 0 }.map { Self.allNames[$0] } }

    /// The highest capability number known here (`CAP_LAST_CAP`).
    public static let lastNumber: Int32 = ENVYRO_CAP_LAST_CAP

    /// Every capability known here.
    public static let all = CapabilitySet(rawValue: (1 << (UInt64(lastNumber) + 1)) - 1)

    /// `CAP_CHOWN`.
    public static let chown = CapabilitySet(number: ENVYRO_CAP_CHOWN)
    /// `CAP_DAC_OVERRIDE`.
    public static let dacOverride = CapabilitySet(number: ENVYRO_CAP_DAC_OVERRIDE)
    /// `CAP_DAC_READ_SEARCH`.
    public static let dacReadSearch = CapabilitySet(number: ENVYRO_CAP_DAC_READ_SEARCH)
    /// `CAP_FOWNER`.
    public static let fowner = CapabilitySet(number: ENVYRO_CAP_FOWNER)
    /// `CAP_FSETID`.
    public static let fsetid = CapabilitySet(number: ENVYRO_CAP_FSETID)
    /// `CAP_KILL`.
    public static let kill = CapabilitySet(number: ENVYRO_CAP_KILL)
    /// `CAP_SETGID`.
    public static let setgid = CapabilitySet(number: ENVYRO_CAP_SETGID)
    /// `CAP_SETUID`.
    public static let setuid = CapabilitySet(number: ENVYRO_CAP_SETUID)
    /// `CAP_SETPCAP`.
    public static let setpcap = CapabilitySet(number: ENVYRO_CAP_SETPCAP)
    /// `CAP_LINUX_IMMUTABLE`.
    public static let linuxImmutable = CapabilitySet(number: ENVYRO_CAP_LINUX_IMMUTABLE)
    /// `CAP_NET_BIND_SERVICE`.
    public static let netBindService = CapabilitySet(number: ENVYRO_CAP_NET_BIND_SERVICE)
    /// `CAP_NET_BROADCAST`.
    public static let netBroadcast = CapabilitySet(number: ENVYRO_CAP_NET_BROADCAST)
    /// `CAP_NET_ADMIN`.
    public static let netAdmin = CapabilitySet(number: ENVYRO_CAP_NET_ADMIN)
    /// `CAP_NET_RAW`.
    public static let netRaw = CapabilitySet(number: ENVYRO_CAP_NET_RAW)
    /// `CAP_IPC_LOCK`.
    public static let ipcLock = CapabilitySet(number: ENVYRO_CAP_IPC_LOCK)
    /// `CAP_IPC_OWNER`.
    public static let ipcOwner = CapabilitySet(number: ENVYRO_CAP_IPC_OWNER)
    /// `CAP_SYS_MODULE`.
    public static let sysModule = CapabilitySet(number: ENVYRO_CAP_SYS_MODULE)
    /// `CAP_SYS_RAWIO`.
    public static let sysRawio = CapabilitySet(number: ENVYRO_CAP_SYS_RAWIO)
    /// `CAP_SYS_CHROOT`.
    public static let sysChroot = CapabilitySet(number: ENVYRO_CAP_SYS_CHROOT)
    /// `CAP_SYS_PTRACE`.
    public static let sysPtrace = CapabilitySet(number: ENVYRO_CAP_SYS_PTRACE)
    /// `CAP_SYS_PACCT`.
    public static let sysPacct = CapabilitySet(number: ENVYRO_CAP_SYS_PACCT)
    /// `CAP_SYS_ADMIN`.
    public static let sysAdmin = CapabilitySet(number: ENVYRO_CAP_SYS_ADMIN)
    /// `CAP_SYS_BOOT`.
    public static let sysBoot = CapabilitySet(number: ENVYRO_CAP_SYS_BOOT)
    /// `CAP_SYS_NICE`.
    public static let sysNice = CapabilitySet(number: ENVYRO_CAP_SYS_NICE)
    /// `CAP_SYS_RESOURCE`.
    public static let sysResource = CapabilitySet(number: ENVYRO_CAP_SYS_RESOURCE)
    /// `CAP_SYS_TIME`.
    public static let sysTime = CapabilitySet(number: ENVYRO_CAP_SYS_TIME)
    /// `CAP_SYS_TTY_CONFIG`.
    public static let sysTtyConfig = CapabilitySet(number: ENVYRO_CAP_SYS_TTY_CONFIG)
    /// `CAP_MKNOD`.
    public static let mknod = CapabilitySet(number: ENVYRO_CAP_MKNOD)
    /// `CAP_LEASE`.
    public static let lease = CapabilitySet(number: ENVYRO_CAP_LEASE)
    /// `CAP_AUDIT_WRITE`.
    public static let auditWrite = CapabilitySet(number: ENVYRO_CAP_AUDIT_WRITE)
    /// `CAP_AUDIT_CONTROL`.
    public static let auditControl = CapabilitySet(number: ENVYRO_CAP_AUDIT_CONTROL)
    /// `CAP_SETFCAP`.
    public static let setfcap = CapabilitySet(number: ENVYRO_CAP_SETFCAP)
    /// `CAP_MAC_OVERRIDE`.
    public static let macOverride = CapabilitySet(number: ENVYRO_CAP_MAC_OVERRIDE)
    /// `CAP_MAC_ADMIN`.
    public static let macAdmin = CapabilitySet(number: ENVYRO_CAP_MAC_ADMIN)
    /// `CAP_SYSLOG`.
    public static let syslog = CapabilitySet(number: ENVYRO_CAP_SYSLOG)
    /// `CAP_WAKE_ALARM`.
    public static let wakeAlarm = CapabilitySet(number: ENVYRO_CAP_WAKE_ALARM)
    /// `CAP_BLOCK_SUSPEND`.
    public static let blockSuspend = CapabilitySet(number: ENVYRO_CAP_BLOCK_SUSPEND)
    /// `CAP_AUDIT_READ`.
    public static let auditRead = CapabilitySet(number: ENVYRO_CAP_AUDIT_READ)
    /// `CAP_PERFMON`.
    public static let perfmon = CapabilitySet(number: ENVYRO_CAP_PERFMON)
    /// `CAP_BPF`.
    public static let bpf = CapabilitySet(number: ENVYRO_CAP_BPF)
    /// `CAP_CHECKPOINT_RESTORE`.
    public static let checkpointRestore = CapabilitySet(number: ENVYRO_CAP_CHECKPOINT_RESTORE)

    /// Each capability with its kernel name.
    private static let table: [(set: CapabilitySet, name: String)] = [
        (.chown, "CAP_CHOWN"),
        (.dacOverride, "CAP_DAC_OVERRIDE"),
        (.dacReadSearch, "CAP_DAC_READ_SEARCH"),
        (.fowner, "CAP_FOWNER"),
        (.fsetid, "CAP_FSETID"),
        (.kill, "CAP_KILL"),
        (.setgid, "CAP_SETGID"),
        (.setuid, "CAP_SETUID"),
        (.setpcap, "CAP_SETPCAP"),
        (.linuxImmutable, "CAP_LINUX_IMMUTABLE"),
        (.netBindService, "CAP_NET_BIND_SERVICE"),
        (.netBroadcast, "CAP_NET_BROADCAST"),
        (.netAdmin, "CAP_NET_ADMIN"),
        (.netRaw, "CAP_NET_RAW"),
        (.ipcLock, "CAP_IPC_LOCK"),
        (.ipcOwner, "CAP_IPC_OWNER"),
        (.sysModule, "CAP_SYS_MODULE"),
        (.sysRawio, "CAP_SYS_RAWIO"),
        (.sysChroot, "CAP_SYS_CHROOT"),
        (.sysPtrace, "CAP_SYS_PTRACE"),
        (.sysPacct, "CAP_SYS_PACCT"),
        (.sysAdmin, "CAP_SYS_ADMIN"),
        (.sysBoot, "CAP_SYS_BOOT"),
        (.sysNice, "CAP_SYS_NICE"),
        (.sysResource, "CAP_SYS_RESOURCE"),
        (.sysTime, "CAP_SYS_TIME"),
        (.sysTtyConfig, "CAP_SYS_TTY_CONFIG"),
        (.mknod, "CAP_MKNOD"),
        (.lease, "CAP_LEASE"),
        (.auditWrite, "CAP_AUDIT_WRITE"),
        (.auditControl, "CAP_AUDIT_CONTROL"),
        (.setfcap, "CAP_SETFCAP"),
        (.macOverride, "CAP_MAC_OVERRIDE"),
        (.macAdmin, "CAP_MAC_ADMIN"),
        (.syslog, "CAP_SYSLOG"),
        (.wakeAlarm, "CAP_WAKE_ALARM"),
        (.blockSuspend, "CAP_BLOCK_SUSPEND"),
        (.auditRead, "CAP_AUDIT_READ"),
        (.perfmon, "CAP_PERFMON"),
        (.bpf, "CAP_BPF"),
        (.checkpointRestore, "CAP_CHECKPOINT_RESTORE"),
    ]

    /// The kernel's name of each capability, indexed by number: `allNames[21] == "CAP_SYS_ADMIN"`.
    public static let allNames: [String] = {
        var names = [String](repeating: "", count: Int(lastNumber) + 1)
        for (set, name) in table { names[set.rawValue.trailingZeroBitCount] = name }
        return names
    }()

    private static let numbers: [String: Int32] = {
        var byName: [String: Int32] = [:]
        for (number, name) in allNames.enumerated() { byName[name] = Int32(number) }
        return byName
    }()

    /// The number of the capability called `name` (exactly: `"CAP_SYS_ADMIN"`), or nil.
    public static func number(of name: String) -> Int32? { numbers[name] }

    /// The name of capability `number`, or nil when it is out of range.
    public static func name(of number: Int32) -> String? {
        number >= 0 && Int(number) < allNames.count ? allNames[Int(number)] : nil
    }
}
