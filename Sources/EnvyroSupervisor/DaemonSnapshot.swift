// SupervisorDaemon's stats body, its policy snapshot for new helpers, and cleanup of what dead supervisors left.

import CEnvyro
import EnvyroClient
import EnvyroEngine
import EnvyroJSON
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

extension SupervisorDaemon {
    /// Every pool's, cache's and the registry's figures, the helper pool, and starts per second.
    public func statsBody() -> JSONObject {
        let engine = supervisor.engine.stats
        let p = pool.stats
        let uptime = Double(Clock.monotonicNanoseconds() - startedAt) / 1e9
        let total = started.load(ordering: .relaxed)
        var fields: JSONObject = [:]
        for (k, v) in engine.jsonFields() { fields.set(k, .int(v)) }
        fields.set("helper_pool_hits", .int(Int64(p.hits)))
        fields.set("helper_pool_misses", .int(Int64(p.misses)))
        fields.set("helper_pool_ready", .int(Int64(p.ready)))
        fields.set("helper_starts", .int(Int64(p.started)))
        fields.set("helper_restarts", .int(Int64(max(0, p.started - p.ready - runs.withLock { $0.count }))))
        fields.set("helper_discards", .int(Int64(p.discarded)))
        fields.set("prewarmed_hits", .int(Int64(prewarmHits.load(ordering: .relaxed))))
        fields.set("prewarmed_misses", .int(Int64(prewarmMisses.load(ordering: .relaxed))))
        fields.set("prewarmed_discards", .int(Int64(prewarmDiscards.load(ordering: .relaxed))))
        let reused = netnsReused.load(ordering: .relaxed), made = netnsCreated.load(ordering: .relaxed)
        let closed = netnsDiscards.load(ordering: .relaxed)
        fields.set("netns_pool_hits", .int(Int64(reused)))
        fields.set("netns_pool_misses", .int(Int64(made)))
        fields.set("netns_pool_discards", .int(Int64(closed)))
        fields.set("runs_started", .int(Int64(total)))
        fields.set("runs_in_flight", .int(Int64(runs.withLock { $0.count })))
        fields.set("uptime_s", .double(uptime))
        fields.set("starts_per_second", .double(uptime > 0 ? Double(total) / uptime : 0))
        var text = engine.formatted()
        text += "\nhelper_pool: ready=\(p.ready) hits=\(p.hits) misses=\(p.misses) started=\(p.started) discarded=\(p.discarded)"
        text += "\nprewarmed_containers: hits=\(prewarmHits.load(ordering: .relaxed)) misses=\(prewarmMisses.load(ordering: .relaxed)) discards=\(prewarmDiscards.load(ordering: .relaxed))"
        text += "\nnetns_pool: hits=\(reused) misses=\(made) discards=\(closed)"
        text += "\nruns: started=\(total) in_flight=\(runs.withLock { $0.count }) starts_per_second=\(uptime > 0 ? Double(total) / uptime : 0)"
        return ["text": .string(text), "fields": .object(fields)]
    }

    /// Helpers load their policy themselves. So that a later broken edit of the file can't stop
    /// new helpers (SIGHUP keeps the old policy), they get a copy taken when the policy last
    /// loaded, in the daemon's private socket directory, with its seccomp profile path made
    /// absolute. A helper with file capabilities trusts only root-owned policy files, so it
    /// keeps reading the original.
    func snapshotPolicy() {
        let helperPath = supervisor.helperPath
        var reference = supervisor.policyReference
        if geteuid() == 0 || !Self.hasFileCapabilities(helperPath),
           let loaded = try? supervisor.policy(),
           let bytes = try? Files.read(loaded.policy.sourcePath),
           case .object(var o)? = try? JSONParser.parse(bytes) {
            if var sec = o["seccomp"]?.objectValue, let profile = loaded.policy.seccomp.profile {
                sec.set("profile", .string(profile))
                o.set("seccomp", .object(sec))
            }
            let path = Files.directory(of: socketPath) + "/policy-\(getpid()).json"
            let tmp = path + ".tmp"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd >= 0 {
                let ok = (try? Files.writeAll(fd, Array(JSONValue.object(o).serialized(pretty: true).utf8), subject: tmp)) != nil
                close(fd)
                if ok && rename(tmp, path) == 0 { reference = path } else { unlink(tmp) }
            }
        }
        pool.switchPolicy(reference)
    }

    func removeStaleSnapshots() { _ = Self.removeStaleSnapshots(besideSocket: socketPath) }

    /// Removes the policy snapshots of supervisors on this socket that are gone (a SIGKILLed
    /// one leaves its `policy-PID.json` behind, as it leaves its socket); returns their paths.
    public static func removeStaleSnapshots(besideSocket socketPath: String) -> [String] {
        let dir = Files.directory(of: socketPath)
        guard let names = try? Files.listDirectory(dir) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix("policy-") && (name.hasSuffix(".json") || name.hasSuffix(".json.tmp")) {
            let digits = name.dropFirst("policy-".count).prefix { $0.isNumber }
            guard let pid = Int32(digits), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(dir + "/" + name) == 0 { removed.append(dir + "/" + name) }
        }
        return removed
    }

    /// What a supervisor SIGKILLed without a successor left at `socketPath`: its socket, when
    /// nothing answers on it, and the policy snapshots of dead supervisors. Returns the paths
    /// removed (`envyro gc`).
    public static func removeLeftovers(socketPath: String) -> [String] {
        // Only in a private directory of ours: never follow or clean another user's.
        guard RuntimeDirectory.refusal(Files.directory(of: socketPath), uid: getuid()) == nil else { return [] }
        var removed: [String] = []
        if Files.kind(socketPath) == .other, ClientProtocol.connect(socketPath) == nil {
            var st = stat()
            if lstat(socketPath, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK, st.st_uid == getuid(), unlink(socketPath) == 0 {
                removed.append(socketPath)
            }
        }
        return removed + removeStaleSnapshots(besideSocket: socketPath)
    }

    static func hasFileCapabilities(_ path: String) -> Bool {
        envyro_has_file_caps(path) != 0
    }
}
