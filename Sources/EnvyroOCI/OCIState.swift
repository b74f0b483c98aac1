#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvyroJSON

/// The state of a container as `envyro state` prints it and hooks read it on stdin
/// (runtime-spec runtime.md, with runc's extra `rootfs`, `created` and `owner`).
public struct OCIState: Sendable, Equatable {
    /// A container's life-cycle status.
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// `create` is running.
        case creating
        /// Created, waiting for `start`.
        case created
        /// The user process runs.
        case running
        /// The user process has exited.
        case stopped
        /// Frozen (runc's extra status).
        case paused
    }

    /// The spec version of this document.
    public var ociVersion: String
    /// The container id.
    public var id: String
    /// The status.
    public var status: Status
    /// The container's first process, as seen from the runtime's pid namespace; 0 when stopped.
    public var pid: Int32
    /// Absolute path of the bundle.
    public var bundle: String
    /// Absolute path of the root file system (runc's extra; nil to leave it out).
    public var rootfs: String?
    /// When the container was created, RFC 3339 (runc's extra; nil to leave it out).
    public var created: String?
    /// The owner's user name or "" (runc's extra; nil to leave it out).
    public var owner: String?
    /// The config's annotations; left out of the document when empty.
    public var annotations: [OCIKeyValue]

    /// Creates a state.
    public init(ociVersion: String = "1.0.2", id: String, status: Status, pid: Int32, bundle: String,
                rootfs: String? = nil, created: String? = nil, owner: String? = nil, annotations: [OCIKeyValue] = []) {
        self.ociVersion = ociVersion
        self.id = id
        self.status = status
        self.pid = pid
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.annotations = annotations
    }

    /// The JSON document, keys in runc's order: ociVersion, id, status, pid, bundle, rootfs,
    /// created, owner, annotations.
    public func json(pretty: Bool = false) -> String {
        var o = JSONObject()
        o.set("ociVersion", .string(ociVersion))
        o.set("id", .string(id))
        o.set("status", .string(status.rawValue))
        o.set("pid", .int(Int64(pid)))
        o.set("bundle", .string(bundle))
        if let rootfs { o.set("rootfs", .string(rootfs)) }
        if let created { o.set("created", .string(created)) }
        if let owner { o.set("owner", .string(owner)) }
        if !annotations.isEmpty { o.set("annotations", annotations.jsonValue) }
        return JSONValue.object(o).serialized(pretty: pretty)
    }

    /// Reads a state document back.
    /// - Throws: `OCIError` (document "state.json") naming the first bad key.
    public static func parse(bytes: [UInt8]) throws(OCIError) -> OCIState {
        let r = try OCIReader(document: "state.json", root: parseJSON(bytes, document: "state.json"))
        try r.keys(["ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "owner", "annotations"])
        let name = try r.string("status")
        guard let status = Status(rawValue: name) else {
            throw r.error("status", "'\(name)' is not one of: \(Status.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return OCIState(
            ociVersion: try r.string("ociVersion"), id: try r.string("id"), status: status,
            pid: r.has("pid") ? try r.integer("pid") : 0, bundle: try r.string("bundle"),
            rootfs: try r.optionalString("rootfs"), created: try r.optionalString("created"),
            owner: try r.optionalString("owner"), annotations: try r.stringMap("annotations"))
    }
}

/// What the CLI keeps per container in `<root>/<id>/state.json`, so that `start`, `state`,
/// `kill` and `delete` work without re-reading the bundle.
public struct PersistedContainer: Sendable, Equatable {
    /// The version of this record's layout; `parse` refuses others.
    public static let formatVersion = 1

    /// The container id.
    public var id: String
    /// Absolute path of the bundle.
    public var bundle: String
    /// Absolute path of the root file system.
    public var rootfs: String
    /// The container's first process (runtime pid namespace); 0 before it exists.
    public var pid: Int32
    /// Field 22 of `/proc/<pid>/stat` when it started, to tell a reused pid from ours.
    public var pidStartTime: UInt64
    /// When the container was created, RFC 3339.
    public var created: String
    /// The config's annotations, in order.
    public var annotations: [OCIKeyValue]
    /// The container's cgroup, as created.
    public var cgroupPath: String
    /// `CLONE_NEW*` flags of the namespaces created for it.
    public var namespaceFlags: UInt32
    /// A digest of the config.json it was created from, e.g. "sha256:...".
    public var configDigest: String
    /// The uid that created it.
    public var uid: UInt32
    /// Hooks `start` runs before the process execs, saved at `create`: the bundle may have
    /// changed since (runc keeps its config in its own state too).
    public var startContainer: [OCIConfig.Hook]
    /// Hooks to run after `start`.
    public var poststart: [OCIConfig.Hook]
    /// Hooks to run after `delete`.
    public var poststop: [OCIConfig.Hook]

    /// Creates a record.
    public init(id: String, bundle: String, rootfs: String, pid: Int32, pidStartTime: UInt64, created: String,
                annotations: [OCIKeyValue] = [], cgroupPath: String, namespaceFlags: UInt32, configDigest: String,
                uid: UInt32, startContainer: [OCIConfig.Hook] = [], poststart: [OCIConfig.Hook] = [],
                poststop: [OCIConfig.Hook] = []) {
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.pid = pid
        self.pidStartTime = pidStartTime
        self.created = created
        self.annotations = annotations
        self.cgroupPath = cgroupPath
        self.namespaceFlags = namespaceFlags
        self.configDigest = configDigest
        self.uid = uid
        self.startContainer = startContainer
        self.poststart = poststart
        self.poststop = poststop
    }

    /// The record as JSON (pretty, one key per line).
    public func json() -> String {
        var o = JSONObject()
        o.set("version", .int(Int64(Self.formatVersion)))
        o.set("id", .string(id))
        o.set("bundle", .string(bundle))
        o.set("rootfs", .string(rootfs))
        o.set("pid", .int(Int64(pid)))
        // UInt64 values above Int64.max don't fit a JSON integer here; start times never get there.
        o.set("pidStartTime", .int(Int64(clamping: pidStartTime)))
        o.set("created", .string(created))
        o.set("annotations", annotations.jsonValue)
        o.set("cgroupPath", .string(cgroupPath))
        o.set("namespaceFlags", .int(Int64(namespaceFlags)))
        o.set("configDigest", .string(configDigest))
        o.set("uid", .int(Int64(uid)))
        o.set("startContainer", .array(startContainer.map(\.jsonValue)))
        o.set("poststart", .array(poststart.map(\.jsonValue)))
        o.set("poststop", .array(poststop.map(\.jsonValue)))
        return JSONValue.object(o).serialized(pretty: true)
    }

    /// Reads a record back.
    /// - Throws: `OCIError` (document "state.json") naming the first bad key.
    public static func parse(bytes: [UInt8]) throws(OCIError) -> PersistedContainer {
        let r = try OCIReader(document: "state.json", root: parseJSON(bytes, document: "state.json"))
        let version: Int = try r.integer("version")
        guard version == formatVersion else {
            throw r.error("version", "\(version) is not \(formatVersion): written by another envyro version")
        }
        try r.keys(["version", "id", "bundle", "rootfs", "pid", "pidStartTime", "created", "annotations",
                    "cgroupPath", "namespaceFlags", "configDigest", "uid", "startContainer", "poststart", "poststop"])
        var startContainer: [OCIConfig.Hook] = []
        for h in try r.objects("startContainer") { startContainer.append(try ConfigSchema.hook(h)) }
        var poststart: [OCIConfig.Hook] = []
        for h in try r.objects("poststart") { poststart.append(try ConfigSchema.hook(h)) }
        var poststop: [OCIConfig.Hook] = []
        for h in try r.objects("poststop") { poststop.append(try ConfigSchema.hook(h)) }
        return PersistedContainer(
            id: try r.string("id"), bundle: try r.string("bundle"), rootfs: try r.string("rootfs"),
            pid: try r.integer("pid"), pidStartTime: try r.integer("pidStartTime"), created: try r.string("created"),
            annotations: try r.stringMap("annotations"), cgroupPath: try r.string("cgroupPath"),
            namespaceFlags: try r.integer("namespaceFlags"), configDigest: try r.string("configDigest"),
            uid: try r.integer("uid"), startContainer: startContainer, poststart: poststart, poststop: poststop)
    }

    /// The OCI state document for this container in `status`.
    public func state(status: OCIState.Status, owner: String? = nil) -> OCIState {
        OCIState(id: id, status: status, pid: status == .stopped ? 0 : pid, bundle: bundle, rootfs: rootfs,
                 created: created, owner: owner, annotations: annotations)
    }
}

extension OCIConfig.Hook {
    /// The hook as a config.json object (empty lists and a nil timeout left out).
    var jsonValue: JSONValue {
        var o = JSONObject()
        o.set("path", .string(path))
        if !args.isEmpty { o.set("args", .array(args.map { .string($0) })) }
        if !env.isEmpty { o.set("env", .array(env.map { .string($0) })) }
        if let timeout { o.set("timeout", .int(Int64(timeout))) }
        return .object(o)
    }
}

func parseJSON(_ bytes: [UInt8], document: String) throws(OCIError) -> JSONValue {
    do {
        return try JSONParser.parse(bytes)
    } catch {
        throw OCIError(document: document, path: "", reason: "invalid JSON: \(error)")
    }
}

/// RFC 3339 timestamps in UTC, formatted as Go's `time.RFC3339Nano` does (runc's `created`).
public enum OCITime {
    /// The current time from `clock_gettime(CLOCK_REALTIME)`, e.g. "2026-11-26T14:31:39.123456789Z".
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return rfc3339(seconds: Int64(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    /// Formats seconds since the epoch plus nanoseconds. Like Go's RFC3339Nano, trailing
    /// zeros of the fraction are dropped, and the fraction is left out when it is zero.
    public static func rfc3339(seconds: Int64, nanoseconds: Int) -> String {
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 {
            rest += 86_400
            days -= 1
        }
        let (year, month, day) = civil(daysSinceEpoch: days)
        var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += "T" + pad(rest / 3600, 2) + ":" + pad(rest / 60 % 60, 2) + ":" + pad(rest % 60, 2)
        if nanoseconds > 0 && nanoseconds < 1_000_000_000 {
            var fraction = pad(Int64(nanoseconds), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    static func civil(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
