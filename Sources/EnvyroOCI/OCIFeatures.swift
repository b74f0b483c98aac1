#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvyroJSON

/// The runtime-spec features document (`envyro features`), built from the same tables the
/// config reader accepts: hook kinds, mount options, namespace types and capability names.
public enum OCIFeatures {
    /// The oldest spec version envyro reads.
    public static let ociVersionMin = "1.0.0"
    /// The newest spec version envyro reads.
    public static let ociVersionMax = "1.1.0"

    /// What the seccomp compiler supports; it lives in another module, so its tables are
    /// passed in rather than repeated here.
    public struct Seccomp: Sendable, Equatable {
        /// False when envyro was built without seccomp support.
        public var enabled: Bool
        /// `SCMP_ACT_*` names the compiler accepts.
        public var actions: [String]
        /// `SCMP_CMP_*` names the compiler accepts.
        public var operators: [String]
        /// `SCMP_ARCH_*` names the compiler accepts.
        public var archs: [String]
        /// `SECCOMP_FILTER_FLAG_*` names the compiler knows.
        public var knownFlags: [String]
        /// `SECCOMP_FILTER_FLAG_*` names this kernel and compiler support.
        public var supportedFlags: [String]

        /// Creates a seccomp description.
        public init(enabled: Bool, actions: [String] = [], operators: [String] = [], archs: [String] = [],
                    knownFlags: [String] = [], supportedFlags: [String] = []) {
            self.enabled = enabled
            self.actions = actions
            self.operators = operators
            self.archs = archs
            self.knownFlags = knownFlags
            self.supportedFlags = supportedFlags
        }
    }

    /// The features document as a JSON value.
    /// - Parameters:
    ///   - version: envyro's version, for the `io.github.envyro.version` annotation.
    ///   - seccomp: what the seccomp compiler supports.
    public static func document(version: String, seccomp: Seccomp) -> JSONValue {
        func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        var seccompObject: JSONObject = ["enabled": .bool(seccomp.enabled)]
        if seccomp.enabled {
            seccompObject.set("actions", strings(seccomp.actions))
            seccompObject.set("operators", strings(seccomp.operators))
            seccompObject.set("archs", strings(seccomp.archs))
            seccompObject.set("knownFlags", strings(seccomp.knownFlags))
            seccompObject.set("supportedFlags", strings(seccomp.supportedFlags))
        }
        // A kernel without time namespaces (before 5.6) has no /proc/self/ns/time.
        let namespaces = OCIConfig.NamespaceType.allCases.filter { $0 != .time || timeNamespacesAvailable }
        let linux: JSONObject = [
            "namespaces": strings(namespaces.map(\.rawValue)),
            "capabilities": strings(OCICapabilities.names),
            "cgroup": ["v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false],
            "seccomp": .object(seccompObject),
            "apparmor": ["enabled": false],
            "selinux": ["enabled": false],
            "intelRdt": ["enabled": false],
            "mountExtensions": ["idmap": ["enabled": true]],
            "netDevices": ["enabled": true],
        ]
        // What the spec's features schema has no field for, under envyro's own names.
        var annotations: JSONObject = ["io.github.envyro.version": .string(version)]
        annotations.set("io.github.envyro.process.ioPriority", .string(OCIConfig.IOPriority.classes.map(\.name).joined(separator: ",")))
        annotations.set("io.github.envyro.linux.personality", .string(OCIConfig.Personality.domains.map(\.name).joined(separator: ",")))
        if timeNamespacesAvailable {
            annotations.set("io.github.envyro.linux.timeOffsets", .string(OCIConfig.TimeOffset.clocks.joined(separator: ",")))
        }
        annotations.set("io.github.envyro.annotations", .string(honouredAnnotations.joined(separator: ",")))
        let document: JSONObject = [
            "ociVersionMin": .string(ociVersionMin),
            "ociVersionMax": .string(ociVersionMax),
            "hooks": strings(OCIConfig.HookKind.allCases.map(\.rawValue)),
            "mountOptions": strings(OCIMountOptions.recognized),
            "linux": .object(linux),
            "annotations": .object(annotations),
        ]
        return .object(document)
    }

    /// The config.json annotations envyro acts on (crun's names).
    public static let honouredAnnotations = ["run.oci.keep_original_groups"]

    /// Whether this kernel has time namespaces (Linux 5.6).
    public static var timeNamespacesAvailable: Bool { access("/proc/self/ns/time", F_OK) == 0 }

    /// The features document as pretty-printed JSON, as `envyro features` prints it.
    public static func json(version: String, seccomp: Seccomp) -> String {
        document(version: version, seccomp: seccomp).serialized(pretty: true)
    }
}
