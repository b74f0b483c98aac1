import EnvyroSystem

/// Capability names as seccomp profiles spell them in `includes`/`excludes` (any case, the
/// `CAP_` prefix optional), over `CapabilitySet`'s names and numbers.
public enum Capabilities {
    /// Every capability name, indexed by its number: `allNames[21] == "CAP_SYS_ADMIN"`.
    /// Covers 0 (`CAP_CHOWN`) to 40 (`CAP_CHECKPOINT_RESTORE`, Linux 5.9), the last one defined.
    public static var allNames: [String] { CapabilitySet.allNames }

    /// The highest capability number known here (`CAP_LAST_CAP`).
    public static var lastCapability: Int32 { CapabilitySet.lastNumber }

    /// The number of a capability: `number(of: "CAP_SYS_ADMIN") == 21`.
    ///
    /// The name is matched without regard to case, and the `CAP_` prefix may be left out
    /// (`"sys_admin"` works too). Returns nil for a name that is not a capability.
    public static func number(of name: String) -> Int32? {
        CapabilitySet.number(of: canonicalName(name))
    }

    /// The name of capability `number`, or nil if it is out of range.
    public static func name(of number: Int32) -> String? { CapabilitySet.name(of: number) }

    /// The canonical spelling of a capability name (upper case, with the `CAP_` prefix),
    /// or nil if it is not a capability.
    public static func canonical(_ name: String) -> String? {
        let candidate = canonicalName(name)
        return CapabilitySet.number(of: candidate) == nil ? nil : candidate
    }

    private static func canonicalName(_ name: String) -> String {
        let upper = name.uppercased()
        return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
    }
}
