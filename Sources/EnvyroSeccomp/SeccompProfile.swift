import CEnvyro
import CSeccomp
import EnvyroJSON
import EnvyroSystem
import Glibc

/// A seccomp profile in the OCI runtime-spec / moby JSON schema, validated.
///
/// Docker's and podman's published profiles load as they are: moby's `archMap`, `includes`
/// and `excludes`, the legacy `name`, `comment` keys and `null` for absent lists are accepted.
/// Anything the schema doesn't have is an error, and so is a system call name that is neither
/// known to libseccomp nor a real Linux system call (see `LinuxSyscalls`), so typos are caught.
/// A user-notification listener (`SCMP_ACT_NOTIFY`, `listenerPath`) is not supported.
public struct SeccompProfile: Sendable, Equatable {
    /// Where the profile came from, for errors and warnings.
    public var path: String
    /// The action for system calls no rule matches.
    public var defaultAction: SeccompAction
    /// `architectures`: `SCMP_ARCH_*` names the filter covers besides the native one.
    public var architectures: [String]
    /// moby's `archMap`.
    public var archMap: [SeccompArchMapEntry]
    /// `syscalls`, in file order.
    public var syscalls: [SeccompRule]
    /// `flags` for seccomp(2).
    public var flags: [SeccompFilterFlag]

    /// Creates a profile.
    public init(path: String, defaultAction: SeccompAction, architectures: [String] = [],
                archMap: [SeccompArchMapEntry] = [], syscalls: [SeccompRule] = [],
                flags: [SeccompFilterFlag] = []) {
        self.path = path
        self.defaultAction = defaultAction
        self.architectures = architectures
        self.archMap = archMap
        self.syscalls = syscalls
        self.flags = flags
    }

    /// Profiles larger than this are refused.
    public static let maxFileBytes = 4 << 20

    /// Reads and parses the profile at `path`.
    /// - Throws: `SeccompError` naming the file (and the entry, for a bad entry).
    public static func load(path: String) throws(SeccompError) -> SeccompProfile {
        let bytes: [UInt8]
        do {
            bytes = try Files.read(path, limit: maxFileBytes)
        } catch {
            throw SeccompError(path: path, entry: nil, reason: "can't read the profile: \(error.description)")
        }
        return try parse(bytes: bytes, path: path)
    }

    /// Parses a profile from its JSON bytes; `path` names it in errors.
    /// - Throws: `SeccompError` naming `path` and the entry.
    public static func parse(bytes: [UInt8], path: String) throws(SeccompError) -> SeccompProfile {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw SeccompError(path: path, entry: nil, reason: "invalid JSON: \(error.description)")
        }
        return try ProfileParser(path: path).profile(root)
    }

    /// True if `name` is a system call name a profile may use: known to libseccomp, or a real
    /// Linux system call that this libseccomp is too old to know (those are skipped).
    public static func isKnownSyscall(_ name: String) -> Bool {
        libseccompKnows(name) || LinuxSyscalls.contains(name)
    }

    /// True if libseccomp can resolve `name` (on any architecture it supports).
    public static func libseccompKnows(_ name: String) -> Bool {
        seccomp_syscall_resolve_name(name) != -1 // __NR_SCMP_ERROR
    }

    /// The profile in a canonical JSON form: fixed key order, resolved defaults (`errnoRet`,
    /// `valueTwo`), canonical capability names, no comments and no path. Two files that mean
    /// the same give the same text.
    public func canonicalJSON() -> String {
        func condition(_ c: SeccompCondition) -> JSONValue {
            .object(JSONObject([
                ("caps", .array(c.caps.map { .string($0) })),
                ("arches", .array(c.arches.map { .string($0) })),
                ("minKernel", c.minKernel.map { .string($0.description) } ?? .null),
            ]))
        }
        func action(_ a: SeccompAction) -> JSONValue { .string(a.description) }
        let rules: [JSONValue] = syscalls.map { rule in
            .object(JSONObject([
                ("names", .array(rule.names.map { .string($0) })),
                ("action", action(rule.action)),
                ("args", .array(rule.args.map { arg in
                    .object(JSONObject([
                        ("index", .int(Int64(arg.index))),
                        ("value", .string(String(arg.value))),
                        ("valueTwo", .string(String(arg.valueTwo))),
                        ("op", .string(arg.op.rawValue)),
                    ]))
                })),
                ("includes", condition(rule.includes)),
                ("excludes", condition(rule.excludes)),
            ]))
        }
        let root = JSONValue.object(JSONObject([
            ("defaultAction", action(defaultAction)),
            ("architectures", .array(architectures.map { .string($0) })),
            ("archMap", .array(archMap.map { entry in
                .object(JSONObject([
                    ("architecture", .string(entry.architecture)),
                    ("subArchitectures", .array(entry.subArchitectures.map { .string($0) })),
                ]))
            })),
            ("syscalls", .array(rules)),
            ("flags", .array(flags.map { .string($0.rawValue) })),
        ]))
        return root.serialized()
    }

    /// SHA-256 (hex) of `canonicalJSON()`: equal for profiles that mean the same.
    public var digest: String {
        let bytes = Array(canonicalJSON().utf8)
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { raw in envyro_sha256(raw.baseAddress, raw.count, &out) }
        return hex(out)
    }
}

/// Lower-case hex of `bytes`.
func hex(_ bytes: [UInt8]) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Turns the JSON tree into a `SeccompProfile`, naming the file and entry in every error.
private struct ProfileParser {
    let path: String

    /// Keys that only document an entry; docker and podman write `comment`.
    static let documentationKeys: Set<String> = ["comment", "comments", "description"]

    static let topLevelKeys: Set<String> = [
        "defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags",
        "listenerPath", "listenerMetadata",
    ]
    static let ruleKeys: Set<String> = ["names", "name", "action", "errnoRet", "args", "includes", "excludes"]
    static let argKeys: Set<String> = ["index", "value", "valueTwo", "op"]
    static let conditionKeys: Set<String> = ["caps", "arches", "minKernel"]
    static let archMapKeys: Set<String> = ["architecture", "subArchitectures"]

    func fail(_ entry: String?, _ reason: String) -> SeccompError {
        SeccompError(path: path, entry: entry, reason: reason)
    }

    func join(_ base: String?, _ key: String) -> String {
        guard let base else { return key }
        return "\(base).\(key)"
    }

    func checkKeys(_ object: JSONObject, allowed: Set<String>, at entry: String?) throws(SeccompError) {
        for key in object.keys where !allowed.contains(key) && !Self.documentationKeys.contains(key) {
            let expected = allowed.sorted().joined(separator: ", ")
            throw fail(entry, "unknown key '\(key)' (expected \(expected))")
        }
    }

    func object(_ value: JSONValue, at entry: String?) throws(SeccompError) -> JSONObject {
        guard let object = value.objectValue else {
            throw fail(entry, "expected an object, found \(value.typeName)")
        }
        return object
    }

    /// An array, with `null` or absence meaning empty.
    func optionalArray(_ value: JSONValue?, at entry: String) throws(SeccompError) -> [JSONValue] {
        guard let value, !value.isNull else { return [] }
        guard let array = value.arrayValue else { throw fail(entry, "expected an array, found \(value.typeName)") }
        return array
    }

    func string(_ value: JSONValue, at entry: String) throws(SeccompError) -> String {
        guard let s = value.stringValue else { throw fail(entry, "expected a string, found \(value.typeName)") }
        return s
    }

    func strings(_ value: JSONValue?, at entry: String) throws(SeccompError) -> [String] {
        var out: [String] = []
        for (i, element) in try optionalArray(value, at: entry).enumerated() {
            out.append(try string(element, at: "\(entry)[\(i)]"))
        }
        return out
    }

    func errnoValue(_ value: JSONValue, at entry: String) throws(SeccompError) -> UInt16 {
        guard let n = value.intValue else { throw fail(entry, "expected an integer, found \(value.typeName)") }
        guard n >= 0 && n <= 4095 else { throw fail(entry, "\(n) is out of range (0-4095)") }
        return UInt16(n)
    }

    func unsigned(_ value: JSONValue, at entry: String) throws(SeccompError) -> UInt64 {
        switch value {
        case .int(let n):
            guard n >= 0 else { throw fail(entry, "\(n) is negative; argument values are unsigned") }
            return UInt64(n)
        case .double:
            throw fail(entry, "\(value) is not an integer from 0 to 9223372036854775807 (larger values lose precision in JSON)")
        default:
            throw fail(entry, "expected an integer, found \(value.typeName)")
        }
    }

    /// An action name plus its optional `errnoRet`, checked together as runc and crun do.
    func action(_ value: JSONValue?, errnoRet: JSONValue?, at entry: String,
                errnoEntry: String) throws(SeccompError) -> SeccompAction {
        guard let value else { throw fail(entry, "missing") }
        let name = try string(value, at: entry)
        if name == "SCMP_ACT_NOTIFY" {
            throw fail(entry, "SCMP_ACT_NOTIFY is not supported (Envyro has no seccomp user-notification listener)")
        }
        var data = UInt16(EPERM)
        if let errnoRet, !errnoRet.isNull {
            guard name == "SCMP_ACT_ERRNO" || name == "SCMP_ACT_TRACE" else {
                throw fail(errnoEntry, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno value, not \(name)")
            }
            data = try errnoValue(errnoRet, at: errnoEntry)
        }
        guard let action = SeccompAction.named(name, data: data) else {
            throw fail(entry, "unknown action '\(name)' (expected one of \(SeccompAction.knownNames.joined(separator: ", ")))")
        }
        return action
    }

    func architecture(_ value: JSONValue, at entry: String, mustResolve: Bool) throws(SeccompError) -> String {
        let name = try string(value, at: entry)
        if mustResolve ? SeccompArchitecture.token(for: name) == nil : !SeccompArchitecture.isKnown(name) {
            throw fail(entry, "unknown architecture '\(name)'")
        }
        return name
    }

    func profile(_ root: JSONValue) throws(SeccompError) -> SeccompProfile {
        let top = try object(root, at: nil)
        try checkKeys(top, allowed: Self.topLevelKeys, at: nil)

        for key in ["listenerPath", "listenerMetadata"] {
            if let value = top[key], !value.isNull {
                let text = try string(value, at: key)
                if !text.isEmpty {
                    throw fail(key, "seccomp user notification (a listener) is not supported")
                }
            }
        }

        let defaultAction = try action(top["defaultAction"], errnoRet: top["defaultErrnoRet"],
                                       at: "defaultAction", errnoEntry: "defaultErrnoRet")

        var architectures: [String] = []
        for (i, value) in try optionalArray(top["architectures"], at: "architectures").enumerated() {
            architectures.append(try architecture(value, at: "architectures[\(i)]", mustResolve: true))
        }

        var archMap: [SeccompArchMapEntry] = []
        for (i, value) in try optionalArray(top["archMap"], at: "archMap").enumerated() {
            let entry = "archMap[\(i)]"
            let object = try object(value, at: entry)
            try checkKeys(object, allowed: Self.archMapKeys, at: entry)
            guard let archValue = object["architecture"] else { throw fail("\(entry).architecture", "missing") }
            let arch = try architecture(archValue, at: "\(entry).architecture", mustResolve: false)
            var subs: [String] = []
            for (j, sub) in try optionalArray(object["subArchitectures"], at: "\(entry).subArchitectures").enumerated() {
                subs.append(try architecture(sub, at: "\(entry).subArchitectures[\(j)]", mustResolve: false))
            }
            archMap.append(SeccompArchMapEntry(architecture: arch, subArchitectures: subs))
        }

        var rules: [SeccompRule] = []
        for (i, value) in try optionalArray(top["syscalls"], at: "syscalls").enumerated() {
            rules.append(try rule(value, at: "syscalls[\(i)]"))
        }

        var flags: [SeccompFilterFlag] = []
        for (i, name) in try strings(top["flags"], at: "flags").enumerated() {
            if name == "SECCOMP_FILTER_FLAG_NEW_LISTENER" || name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" {
                throw fail("flags[\(i)]", "\(name) is not supported (no seccomp user-notification listener)")
            }
            guard let flag = SeccompFilterFlag(rawValue: name) else {
                let known = SeccompFilterFlag.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail("flags[\(i)]", "unknown flag '\(name)' (expected one of \(known))")
            }
            if !flags.contains(flag) { flags.append(flag) }
        }

        return SeccompProfile(path: path, defaultAction: defaultAction, architectures: architectures,
                              archMap: archMap, syscalls: rules, flags: flags)
    }

    func rule(_ value: JSONValue, at entry: String) throws(SeccompError) -> SeccompRule {
        let object = try object(value, at: entry)
        try checkKeys(object, allowed: Self.ruleKeys, at: entry)

        var names: [String] = []
        if let legacy = object["name"], !legacy.isNull {
            let name = try string(legacy, at: "\(entry).name")
            try checkSyscall(name, at: "\(entry).name")
            names.append(name)
        }
        for (j, name) in try strings(object["names"], at: "\(entry).names").enumerated() {
            try checkSyscall(name, at: "\(entry).names[\(j)]")
            if !names.contains(name) { names.append(name) }
        }
        if names.isEmpty { throw fail(entry, "no system call names (give 'names')") }

        let action = try action(object["action"], errnoRet: object["errnoRet"],
                                at: "\(entry).action", errnoEntry: "\(entry).errnoRet")

        var args: [SeccompArgument] = []
        for (k, value) in try optionalArray(object["args"], at: "\(entry).args").enumerated() {
            args.append(try argument(value, at: "\(entry).args[\(k)]"))
        }

        var comment: String?
        if let value = object["comment"], let text = value.stringValue, !text.isEmpty { comment = text }

        return SeccompRule(names: names, action: action, args: args,
                           includes: try condition(object["includes"], at: "\(entry).includes"),
                           excludes: try condition(object["excludes"], at: "\(entry).excludes"),
                           comment: comment)
    }

    func checkSyscall(_ name: String, at entry: String) throws(SeccompError) {
        if SeccompProfile.isKnownSyscall(name) { return }
        var reason = "unknown syscall '\(name)'"
        if let suggestion = closestSyscall(to: name) { reason += " (did you mean '\(suggestion)'?)" }
        throw fail(entry, reason)
    }

    func argument(_ value: JSONValue, at entry: String) throws(SeccompError) -> SeccompArgument {
        let object = try object(value, at: entry)
        try checkKeys(object, allowed: Self.argKeys, at: entry)
        guard let indexValue = object["index"] else { throw fail("\(entry).index", "missing") }
        guard let index = indexValue.intValue else {
            throw fail("\(entry).index", "expected an integer, found \(indexValue.typeName)")
        }
        guard index >= 0 && index <= 5 else {
            throw fail("\(entry).index", "\(index) is out of range (system calls have arguments 0-5)")
        }
        guard let rawValue = object["value"] else { throw fail("\(entry).value", "missing") }
        let value = try unsigned(rawValue, at: "\(entry).value")
        var valueTwo: UInt64 = 0
        if let raw = object["valueTwo"], !raw.isNull { valueTwo = try unsigned(raw, at: "\(entry).valueTwo") }
        guard let opValue = object["op"] else { throw fail("\(entry).op", "missing") }
        let opName = try string(opValue, at: "\(entry).op")
        guard let op = SeccompOperator(rawValue: opName) else {
            let known = SeccompOperator.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail("\(entry).op", "unknown operator '\(opName)' (expected one of \(known))")
        }
        return SeccompArgument(index: UInt32(index), value: value, valueTwo: valueTwo, op: op)
    }

    func condition(_ value: JSONValue?, at entry: String) throws(SeccompError) -> SeccompCondition {
        guard let value, !value.isNull else { return SeccompCondition() }
        let object = try object(value, at: entry)
        try checkKeys(object, allowed: Self.conditionKeys, at: entry)
        var caps: [String] = []
        for (i, name) in try strings(object["caps"], at: "\(entry).caps").enumerated() {
            guard let canonical = Capabilities.canonical(name) else {
                throw fail("\(entry).caps[\(i)]", "unknown capability '\(name)'")
            }
            caps.append(canonical)
        }
        var arches: [String] = []
        for (i, arch) in try optionalArray(object["arches"], at: "\(entry).arches").enumerated() {
            arches.append(try architecture(arch, at: "\(entry).arches[\(i)]", mustResolve: false))
        }
        var minKernel: KernelVersion?
        if let raw = object["minKernel"], !raw.isNull {
            let text = try string(raw, at: "\(entry).minKernel")
            if !text.isEmpty {
                guard let version = KernelVersion(text) else {
                    throw fail("\(entry).minKernel", "'\(text)' is not a kernel version like \"4.8\"")
                }
                minKernel = version
            }
        }
        return SeccompCondition(caps: caps, arches: arches, minKernel: minKernel)
    }

    /// The known system call name closest to `name` (edit distance at most 2), if any.
    func closestSyscall(to name: String) -> String? {
        let target = Array(name.utf8)
        guard target.count <= 40 else { return nil }
        var bestName: String?
        var bestDistance = 3
        for candidate in LinuxSyscalls.names {
            let c = Array(candidate.utf8)
            if abs(c.count - target.count) > 2 { continue }
            let d = editDistance(target, c)
            if d < bestDistance || (d == bestDistance && bestName.map { candidate < $0 } == true) {
                bestName = candidate
                bestDistance = d
            }
        }
        return bestName
    }

    /// Edit distance counting an insertion, a deletion, a substitution or a swap of two
    /// neighbours as one edit (optimal string alignment), so "getpdi" is 1 from "getpid".
    func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
