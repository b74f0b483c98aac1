/// Linux capability names and numbers (`include/uapi/linux/capability.h`), for seccomp
/// `includes`/`excludes` and for the capability sets a policy grants.
public enum Capabilities {
    /// Every capability name, indexed by its number: `allNames[21] == "CAP_SYS_ADMIN"`.
    /// Covers 0 (`CAP_CHOWN`) to 40 (`CAP_CHECKPOINT_RESTORE`, Linux 5.9), the last one defined.
    public static let allNames: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
        "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
        "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The highest capability number known here (`CAP_LAST_CAP`).
    public static var lastCapability: Int32 { Int32(allNames.count - 1) }

    private static let numbers: [String: Int32] = {
        var table: [String: Int32] = [:]
        for (number, name) in allNames.enumerated() { table[name] = Int32(number) }
        return table
    }()

    /// The number of a capability: `number(of: "CAP_SYS_ADMIN") == 21`.
    ///
    /// The name is matched without regard to case, and the `CAP_` prefix may be left out
    /// (`"sys_admin"` works too). Returns nil for a name that is not a capability.
    public static func number(of name: String) -> Int32? {
        numbers[canonicalName(name)]
    }

    /// The name of capability `number`, or nil if it is out of range.
    public static func name(of number: Int32) -> String? {
        guard number >= 0 && Int(number) < allNames.count else { return nil }
        return allNames[Int(number)]
    }

    /// The canonical spelling of a capability name (upper case, with the `CAP_` prefix),
    /// or nil if it is not a capability.
    public static func canonical(_ name: String) -> String? {
        let candidate = canonicalName(name)
        return numbers[candidate] == nil ? nil : candidate
    }

    private static func canonicalName(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }
}
