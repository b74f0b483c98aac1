import CSeccomp
import Glibc

/// What the kernel does when a rule (or the default) matches: the OCI `SCMP_ACT_*` actions that
/// can be compiled into a BPF filter without a user-notification listener.
public enum SeccompAction: Sendable, Hashable, CustomStringConvertible {
    /// `SCMP_ACT_ALLOW`: run the system call.
    case allow
    /// `SCMP_ACT_ERRNO`: fail the call with this errno, without running it.
    case errno(UInt16)
    /// `SCMP_ACT_KILL_PROCESS`: kill the whole process with SIGSYS (core dump).
    case killProcess
    /// `SCMP_ACT_KILL_THREAD` (and its older name `SCMP_ACT_KILL`): kill the calling thread.
    case killThread
    /// `SCMP_ACT_TRAP`: send SIGSYS to the calling thread.
    case trap
    /// `SCMP_ACT_TRACE`: notify a ptrace tracer with this value (ENOSYS without a tracer).
    case trace(UInt16)
    /// `SCMP_ACT_LOG`: run the call and log it.
    case log

    /// The libseccomp action value (`SCMP_ACT_ERRNO(n)` is `0x00050000 | n`, and so on).
    public var rawValue: UInt32 {
        switch self {
        case .allow: 0x7fff_0000
        case .errno(let code): 0x0005_0000 | UInt32(code)
        case .killProcess: 0x8000_0000
        case .killThread: 0
        case .trap: 0x0003_0000
        case .trace(let value): 0x7ff0_0000 | UInt32(value)
        case .log: 0x7ffc_0000
        }
    }

    /// The OCI name without its data, e.g. `SCMP_ACT_ERRNO`.
    public var name: String {
        switch self {
        case .allow: "SCMP_ACT_ALLOW"
        case .errno: "SCMP_ACT_ERRNO"
        case .killProcess: "SCMP_ACT_KILL_PROCESS"
        case .killThread: "SCMP_ACT_KILL_THREAD"
        case .trap: "SCMP_ACT_TRAP"
        case .trace: "SCMP_ACT_TRACE"
        case .log: "SCMP_ACT_LOG"
        }
    }

    /// The errno or trace value, for the actions that carry one.
    public var data: UInt16? {
        switch self {
        case .errno(let value), .trace(let value): value
        default: nil
        }
    }

    /// `SCMP_ACT_ERRNO(38)` style.
    public var description: String {
        if let data { return "\(name)(\(data))" }
        return name
    }

    /// The action named `name`, with `data` (the `errnoRet`) for the actions that take one;
    /// nil for an unknown name. `SCMP_ACT_NOTIFY` is not accepted here: the parser reports it
    /// as unsupported.
    static func named(_ name: String, data: UInt16) -> SeccompAction? {
        switch name {
        case "SCMP_ACT_ALLOW": .allow
        case "SCMP_ACT_ERRNO": .errno(data)
        case "SCMP_ACT_KILL_PROCESS": .killProcess
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": .killThread
        case "SCMP_ACT_TRAP": .trap
        case "SCMP_ACT_TRACE": .trace(data)
        case "SCMP_ACT_LOG": .log
        default: nil
        }
    }

    /// The action names the parser knows, for error messages.
    static let knownNames = [
        "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG",
    ]
}

/// An argument comparison operator (`SCMP_CMP_*`).
public enum SeccompOperator: String, Sendable, Hashable, CaseIterable {
    /// `arg != value`.
    case notEqual = "SCMP_CMP_NE"
    /// `arg < value`.
    case lessThan = "SCMP_CMP_LT"
    /// `arg <= value`.
    case lessOrEqual = "SCMP_CMP_LE"
    /// `arg == value`.
    case equal = "SCMP_CMP_EQ"
    /// `arg >= value`.
    case greaterOrEqual = "SCMP_CMP_GE"
    /// `arg > value`.
    case greaterThan = "SCMP_CMP_GT"
    /// `(arg & value) == valueTwo`: `value` is the mask.
    case maskedEqual = "SCMP_CMP_MASKED_EQ"

    /// libseccomp's `enum scmp_compare`.
    var compare: scmp_compare {
        switch self {
        case .notEqual: SCMP_CMP_NE
        case .lessThan: SCMP_CMP_LT
        case .lessOrEqual: SCMP_CMP_LE
        case .equal: SCMP_CMP_EQ
        case .greaterOrEqual: SCMP_CMP_GE
        case .greaterThan: SCMP_CMP_GT
        case .maskedEqual: SCMP_CMP_MASKED_EQ
        }
    }
}

/// One argument comparison of a rule: `args[{index, value, valueTwo, op}]`.
public struct SeccompArgument: Sendable, Hashable {
    /// Which system call argument, 0 to 5.
    public var index: UInt32
    /// The value compared with (the mask for `maskedEqual`).
    public var value: UInt64
    /// The second value (the expected masked value for `maskedEqual`); 0 when absent.
    public var valueTwo: UInt64
    /// The comparison.
    public var op: SeccompOperator

    /// Creates a comparison.
    public init(index: UInt32, value: UInt64, valueTwo: UInt64 = 0, op: SeccompOperator) {
        self.index = index
        self.value = value
        self.valueTwo = valueTwo
        self.op = op
    }
}

/// moby's `includes` / `excludes`: a rule applies (or is left out) by the container's
/// capabilities, the native architecture and the running kernel.
public struct SeccompCondition: Sendable, Hashable {
    /// Capability names in canonical form (`CAP_SYS_ADMIN`). `includes`: all must be held;
    /// `excludes`: any one held excludes the rule.
    public var caps: [String]
    /// Architecture names as written (`amd64`, `arm64`, `x86`, `s390x`, ...). `includes`: the
    /// native architecture must be one of them; `excludes`: it must not be.
    public var arches: [String]
    /// `includes`: the running kernel must be at least this; `excludes`: it must be older.
    public var minKernel: KernelVersion?

    /// Creates a condition.
    public init(caps: [String] = [], arches: [String] = [], minKernel: KernelVersion? = nil) {
        self.caps = caps
        self.arches = arches
        self.minKernel = minKernel
    }

    /// True if the condition says nothing.
    public var isEmpty: Bool { caps.isEmpty && arches.isEmpty && minKernel == nil }
}

/// One entry of `syscalls`: the names it covers, the action, the argument comparisons and the
/// moby conditions.
public struct SeccompRule: Sendable, Hashable {
    /// System call names (`names` plus the legacy `name`), in order.
    public var names: [String]
    /// What happens when the rule matches.
    public var action: SeccompAction
    /// Argument comparisons. Comparisons on different arguments must all hold. When one
    /// argument is compared more than once, each comparison becomes a rule of its own (any
    /// one matching is enough), as runc and crun do.
    public var args: [SeccompArgument]
    /// The rule applies only if this holds.
    public var includes: SeccompCondition
    /// The rule is left out if any part of this holds.
    public var excludes: SeccompCondition
    /// The entry's `comment`, if any.
    public var comment: String?

    /// Creates a rule.
    public init(names: [String], action: SeccompAction, args: [SeccompArgument] = [],
                includes: SeccompCondition = SeccompCondition(),
                excludes: SeccompCondition = SeccompCondition(), comment: String? = nil) {
        self.names = names
        self.action = action
        self.args = args
        self.includes = includes
        self.excludes = excludes
        self.comment = comment
    }
}

/// moby's `archMap` entry: when `architecture` is the native one, the filter also covers
/// `subArchitectures` (e.g. x86_64 with x86 and x32).
public struct SeccompArchMapEntry: Sendable, Hashable {
    /// `SCMP_ARCH_*` name.
    public var architecture: String
    /// `SCMP_ARCH_*` names.
    public var subArchitectures: [String]

    /// Creates an entry.
    public init(architecture: String, subArchitectures: [String]) {
        self.architecture = architecture
        self.subArchitectures = subArchitectures
    }
}

/// A `flags` entry: a flag for `seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)`.
public enum SeccompFilterFlag: String, Sendable, Hashable, CaseIterable {
    /// Apply the filter to every thread of the process.
    case tsync = "SECCOMP_FILTER_FLAG_TSYNC"
    /// Log every action except ALLOW.
    case log = "SECCOMP_FILTER_FLAG_LOG"
    /// Don't enable the speculative store bypass mitigation.
    case specAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"

    /// The flag's bit for seccomp(2).
    public var bit: UInt32 {
        switch self {
        case .tsync: 1
        case .log: 2
        case .specAllow: 4
        }
    }
}

/// A kernel release, `major.minor[.patch]`, for moby's `minKernel`.
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// E.g. 6 in 6.1.
    public var major: Int
    /// E.g. 1 in 6.1.
    public var minor: Int
    /// E.g. 44 in 6.18.44; 0 when not given.
    public var patch: Int

    /// Creates a version.
    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `"4.8"` or `"5.15.2"` exactly; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.count <= 6, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let n = Int(part) else { return nil }
            numbers.append(n)
        }
        self.init(numbers[0], numbers[1], numbers.count == 3 ? numbers[2] : 0)
    }

    /// Parses the leading `major.minor[.patch]` of a `uname -r` release such as
    /// `6.18.44-fc-v657`; nil if it doesn't start that way.
    public static func parseRelease(_ release: String) -> KernelVersion? {
        var numbers: [Int] = []
        var current = 0
        var digits = 0
        for byte in release.utf8 {
            if byte >= 0x30 && byte <= 0x39 && digits < 6 {
                current = current * 10 + Int(byte - 0x30)
                digits += 1
            } else {
                guard digits > 0 else { break }
                numbers.append(current)
                current = 0
                digits = 0
                if byte != 0x2E || numbers.count == 3 { break }
            }
        }
        if digits > 0 && numbers.count < 3 { numbers.append(current) }
        guard numbers.count >= 2 else { return nil }
        return KernelVersion(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 0)
    }

    /// The running kernel (from uname), or nil if its release can't be read.
    public static let running: KernelVersion? = {
        var name = utsname()
        guard uname(&name) == 0 else { return nil }
        let release = withUnsafeBytes(of: &name.release) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return parseRelease(release)
    }()

    /// Orders by major, then minor, then patch.
    public static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// `major.minor` or `major.minor.patch` (patch shown when not 0).
    public var description: String {
        patch == 0 ? "\(major).\(minor)" : "\(major).\(minor).\(patch)"
    }
}

/// Architecture names: the `SCMP_ARCH_*` names of profiles, the Go names moby uses in
/// `includes.arches` (`amd64`, `arm64`), and libseccomp's tokens.
public enum SeccompArchitecture {
    /// Go and Docker names that libseccomp spells differently.
    private static let aliases: [String: String] = [
        "amd64": "x86_64", "386": "x86", "i386": "x86", "i686": "x86", "arm64": "aarch64",
        "mipsle": "mipsel", "mips64le": "mipsel64", "mips64p32": "mips64n32",
        "mips64p32le": "mipsel64n32", "ppc64el": "ppc64le",
    ]

    /// Real architectures libseccomp 2.5.4 has no token for; accepted in conditions, never native.
    private static let unsupported: Set<String> = [
        "loong64", "loongarch64", "sh", "sheb", "m68k", "sparc", "sparc64", "alpha", "csky",
    ]

    /// The libseccomp token for `name` (`SCMP_ARCH_X86_64`, `x86_64`, `amd64`, ...), or nil.
    public static func token(for name: String) -> UInt32? {
        var base = name
        if base.hasPrefix("SCMP_ARCH_") { base = String(base.dropFirst("SCMP_ARCH_".count)) }
        base = base.lowercased()
        if let alias = aliases[base] { base = alias }
        guard !base.isEmpty, base != "native" else { return nil }
        let token = seccomp_arch_resolve_name(base)
        return token == 0 ? nil : token
    }

    /// True if `name` is an architecture name this module recognises, even one libseccomp
    /// can't build filters for.
    public static func isKnown(_ name: String) -> Bool {
        if token(for: name) != nil { return true }
        var base = name
        if base.hasPrefix("SCMP_ARCH_") { base = String(base.dropFirst("SCMP_ARCH_".count)) }
        return unsupported.contains(base.lowercased())
    }

    /// The token of the architecture this process runs on.
    public static var native: UInt32 { seccomp_arch_native() }
}
