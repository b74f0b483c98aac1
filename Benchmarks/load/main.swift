// envyro-load: drives one envyro-supervisor with N runs in flight for a bounded time, injects
// faults (kill -9 of a helper, of the I/O worker, of the supervisor itself), and then checks
// that nothing was left behind (issue 14, "Load, faults and nothing lost").
//
// It runs as the user whose supervisor it drives (an ordinary user, or root): it starts the
// supervisor itself (so it can restart it after killing it), speaks the client protocol
// directly (README, "Client protocol (version 1)") so start latency is exact (request sent ->
// `started` reply), and is a child subreaper, so anything the supervisor or its helpers leave
// running after they die is reparented here and counted as a leak.
//
// Output: a human summary on stdout, and with --json FILE one JSON object (tests parse it).
// Exit status: 0 when every failure was caused by an injected fault and named it, nothing
// leaked, and the audit chain verifies; 1 otherwise; 64 on bad arguments.
// Its parts: Options.swift (options), Driver.swift (shared state, supervisor, slots, faults),
// LeakChecks.swift and SystemHelpers.swift; this file runs them and writes the report.
import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

// MARK: main

let o = parseOptions()
_ = envyro_prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
signal(SIGPIPE, SIG_IGN)
do {
    try Files.makeDirectories(o.work + "/run", mode: 0o700)
    try Files.makeDirectories(o.work + "/logs", mode: 0o700)
} catch { usage("cannot make \(o.work): \(error)") }
let s = Shared(options: o)
let baseMounts = interestingMounts()
let baseTmp = tmpEntries()
let baseCgroups = Set(ourCgroups(s))

// The reaper: we are a subreaper, so everything orphaned below us ends here.
Threads.detach {
    while true {
        var st: Int32 = 0
        let pid = waitpid(-1, &st, WNOHANG)
        if pid > 0 { s.lock.withLock { _ in s.exits[pid] = st }; continue }
        usleep(2_000)
    }
}

guard startSupervisor(s) else { exit(1) }
print("[\(o.label)] supervisor pid \(s.supervisorPID) on \(s.socketPath); \(o.concurrency) runs in flight for \(o.seconds) s; faults: \(o.faults.map { "\($0.kind.rawValue)@\($0.at)" })")

// The sampler: peak RSS of the supervisor, its helpers and its I/O worker; fds; helpers seen.
Threads.detach {
    while !s.stopping.load(ordering: .relaxed) || s.slotsDone.load(ordering: .relaxed) < o.concurrency {
        let sup = s.lock.withLock { _ in s.supervisorPID }
        let supRSS = peakRSS(sup) ?? 0
        let fds = openFDCount(sup)
        var helperPeak = 0, workerPeak = 0, helpers: [Int32] = []
        for p in children(of: sup) {
            guard let st = stat(of: p) else { continue }
            if st.comm == "envyro-nshelper" { helpers.append(p); helperPeak = max(helperPeak, peakRSS(p) ?? 0) }
            if st.comm == "envyro-ioworker" { workerPeak = max(workerPeak, peakRSS(p) ?? 0) }
        }
        s.lock.withLock { _ in
            s.peak["supervisor"] = max(s.peak["supervisor"]!, supRSS)
            s.peak["helper"] = max(s.peak["helper"]!, helperPeak)
            s.peak["ioworker"] = max(s.peak["ioworker"]!, workerPeak)
            s.peakHelpers = max(s.peakHelpers, helpers.count)
            s.peakSupervisorFDs = max(s.peakSupervisorFDs, fds)
            s.helpersSeen.formUnion(helpers)
        }
        usleep(100_000)
    }
}

let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
for i in 0..<o.concurrency { Threads.detach { slot(s, index: i, devNull: devNull) } }

// Faults, in order, at their times.
for f in o.faults {
    while s.elapsed < f.at { usleep(10_000) }
    inject(s, f.kind)
}
while s.elapsed < o.seconds { usleep(20_000) }
let loadEnd = now()
s.stopping.store(true, ordering: .relaxed)
var waited = 0
while s.slotsDone.load(ordering: .relaxed) < o.concurrency && waited < 6000 { usleep(10_000); waited += 1 }
let drained = now()

// Zombies: children of the supervisor or of its helpers left unreaped once the load is over.
var leaks = Leaks()
let sup = s.lock.withLock { _ in s.supervisorPID }
var zombies: [String] = []
for _ in 0..<100 {
    let family = Set([sup] + children(of: sup))
    zombies = allPIDs().compactMap { p in
        guard let st = stat(of: p), st.state == "Z", family.contains(st.ppid) else { return nil }
        return "\(p) (\(st.comm), parent \(st.ppid))"
    }
    if zombies.isEmpty { break }
    usleep(30_000)
}
for z in zombies { leaks.add("zombie", z) }

// The supervisor's own figures (pools, caches) after the load.
var supervisorStats: JSONObject = [:]
if let c = ClientProtocol.connect(s.socketPath) {
    if let m = try? ClientProtocol.exchange(c, ClientMessage(verb: .stats, requestID: 1)), let f = m.body["fields"]?.objectValue {
        supervisorStats = f
    }
    c.close()
}
let poolFigures = ["helper_pool_hits", "helper_pool_misses", "helper_starts", "prewarmed_hits", "prewarmed_misses",
                   "netns_pool_hits", "netns_pool_misses"].compactMap { k in supervisorStats[k]?.intValue.map { "\(k) \($0)" } }
    + supervisorStats.compactMap { $0.key.hasPrefix("buffer_pool") || $0.key.hasPrefix("context_pool") ? "\($0.key) \($0.value)" : nil }

// Stop the supervisor as a user would (SIGTERM drains), then look for what is left.
kill(sup, SIGTERM)
if waitExit(s, sup, seconds: 30) == nil {
    leaks.add("process", "the supervisor \(sup) did not exit within 30 s of SIGTERM")
    kill(sup, SIGKILL)
    _ = waitExit(s, sup, seconds: 5)
}
var orphans: [Int32] = []
for _ in 0..<100 {
    orphans = children(of: getpid())
    if orphans.isEmpty { break }
    usleep(50_000)
}
for p in orphans {
    leaks.add("process", "\(p) \(stat(of: p)?.comm ?? "?") outlived the supervisor")
    kill(p, SIGKILL)
}
for p in markerProcesses(s) { leaks.add("process", p) }
usleep(200_000)
for c in ourCgroups(s) where !baseCgroups.contains(c) { leaks.add("cgroup", c) }
for m in interestingMounts().subtracting(baseMounts) { leaks.add(m.contains("nsfs") ? "netns" : "mount", m) }
for t in tmpEntries().subtracting(baseTmp) { leaks.add("temp file", "/tmp/" + t) }
for e in (try? Files.listDirectory(o.work + "/run")) ?? [] { leaks.add("socket", o.work + "/run/" + e) }
// Sockets still bound anywhere under our work directory.
for line in (readText("/proc/net/unix", limit: 1 << 24) ?? "").split(separator: "\n") where line.contains(o.work + "/run") {
    leaks.add("socket", String(line))
}

// The audit chain.
var auditOK = true
var auditText = "not checked (no --audit)"
if !o.audit.isEmpty {
    let log = o.work + "/audit-verify.txt"
    unlink(log)
    if let pid = spawn([o.bin + "/envyro", "audit", "verify", o.audit], logPath: log), let st = waitExit(s, pid, seconds: 120) {
        auditOK = st == 0
        auditText = (readText(log) ?? "").trimmingTrailingNewlines()
    } else {
        auditOK = false
        auditText = "envyro audit verify did not run"
    }
    unlink(log)
}

// MARK: figures

let (records, faults, peak, peakHelpers, peakFDs, notes) = s.lock.withLock { _ in (s.records, s.faults, s.peak, s.peakHelpers, s.peakSupervisorFDs, s.notes) }
let okCount = records.filter(\.ok).count
var byCause: [String: Int] = [:]
var when: [String: (first: Double, last: Double)] = [:]
var explained: [String: Int] = [:]
var unexplained = 0
for r in records where !r.ok {
    let key = normalize(r.cause)
    let t = Double(r.sentNs - s.startNs) / 1e9
    let k0 = (explainingFault(r, faults).map { "[\($0.rawValue) fault] " } ?? "") + key
    when[k0] = (min(when[k0]?.first ?? t, t), max(when[k0]?.last ?? t, t))
    if let k = explainingFault(r, faults) {
        explained[k.rawValue, default: 0] += 1
        byCause["[\(k.rawValue) fault] " + key, default: 0] += 1
    } else {
        unexplained += 1
        byCause[key, default: 0] += 1
    }
}
let latencies = records.compactMap(\.startLatencyNs).sorted()
func percentile(_ p: Double) -> Double {
    guard !latencies.isEmpty else { return 0 }
    let i = min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)
    return Double(latencies[max(0, i)]) / 1e6
}
let seconds = Double(drained - s.startNs) / 1e9
let runsPerSecond = Double(okCount) / Double(loadEnd - s.startNs) * 1e9
func ms(_ v: Double) -> String { String(Double(Int(v * 100)) / 100) }

print("""
    [\(o.label)] \(records.count) runs in \(ms(seconds)) s (\(o.concurrency) in flight): \(okCount) ok, \(records.count - okCount) failed \
    (\(unexplained) not caused by an injected fault)
    [\(o.label)] runs/s \(ms(runsPerSecond)); start latency p50 \(ms(percentile(0.5))) ms, p99 \(ms(percentile(0.99))) ms, max \(ms(percentile(1.0))) ms (\(latencies.count) started)
    [\(o.label)] peak RSS (VmHWM): supervisor \(peak["supervisor"]!) KiB, helper \(peak["helper"]!) KiB (largest of \(s.helpersSeen.count) seen, \(peakHelpers) at once), I/O worker \(peak["ioworker"]!) KiB; supervisor fds peak \(peakFDs)
    """)
for (cause, n) in byCause.sorted(by: { $0.value > $1.value }) {
    let w = when[cause].map { " (sent at \(ms($0.first))-\(ms($0.last)) s)" } ?? ""
    print("[\(o.label)]   failure x\(n)\(w): \(cause)")
}
print("[\(o.label)] supervisor stats (last generation): \(poolFigures.joined(separator: ", "))")
print("[\(o.label)] leaks: \(leaks.items.isEmpty ? "none" : String(leaks.items.count))")
for l in leaks.items { print("[\(o.label)]   leaked \(l.kind): \(l.what)") }
print("[\(o.label)] audit \(o.audit): \(auditOK ? "verifies" : "DOES NOT VERIFY"): \(auditText)")

if let path = o.json {
    let out: JSONValue = .object([
        "label": .string(o.label), "uid": .int(Int64(getuid())), "concurrency": .int(Int64(o.concurrency)),
        "seconds": .double(seconds), "runs": .int(Int64(records.count)), "ok": .int(Int64(okCount)),
        "failed": .int(Int64(records.count - okCount)), "unexplainedFailures": .int(Int64(unexplained)),
        "explainedFailures": .object(JSONObject(explained.map { ($0.key, JSONValue.int(Int64($0.value))) })),
        "failuresByCause": .object(JSONObject(byCause.map { ($0.key, JSONValue.int(Int64($0.value))) })),
        "runsPerSecond": .double(runsPerSecond), "p50Ms": .double(percentile(0.5)), "p99Ms": .double(percentile(0.99)),
        "maxMs": .double(percentile(1.0)),
        "peakRSSKiB": .object(JSONObject(peak.map { ($0.key, JSONValue.int(Int64($0.value))) })),
        "helpersSeen": .int(Int64(s.helpersSeen.count)), "peakHelpers": .int(Int64(peakHelpers)), "peakSupervisorFDs": .int(Int64(peakFDs)),
        "faults": .array(faults.map { .string($0.note) }),
        "leaks": .array(leaks.items.map { .string("\($0.kind): \($0.what)") }),
        "supervisorStats": .object(supervisorStats), "auditVerified": .bool(auditOK), "audit": .string(auditText),
        "notes": .array(notes.map { .string($0) }),
    ])
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    if fd >= 0 { _ = try? Files.writeAll(fd, Array((out.serialized() + "\n").utf8), subject: path); close(fd) }
}
let expectedFaults = Set(o.faults.map(\.kind))
let injected = Set(faults.map(\.kind))
exit(unexplained == 0 && leaks.items.isEmpty && auditOK && injected == expectedFaults ? 0 : 1)
