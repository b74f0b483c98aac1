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
import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroSystem
import Glibc
import Synchronization

// MARK: options

struct Options: Sendable {
    var bin = ""
    var policy = "strict"
    var work = ""
    var concurrency = 20
    var seconds = 10.0
    var faults: [(kind: FaultKind, at: Double)] = []
    var logEvery = 10
    var memory = "64M"
    var pids: Int64 = 32
    var sleep = "0.2"
    var audit = ""
    var json: String? = nil
    var label = ""
}

enum FaultKind: String, Sendable { case helper, ioworker, supervisor }

func usage(_ problem: String) -> Never {
    _ = "envyro-load: \(problem)\n".withCString { write(2, $0, strlen($0)) }
    print("""
        usage: envyro-load --bin DIR --work DIR [--policy NAME|FILE] [--concurrency N] [--seconds S]
                           [--fault helper@S] [--fault ioworker@S] [--fault supervisor@S]
                           [--log-every K] [--memory SIZE] [--pids-limit N] [--sleep S]
                           [--audit FILE] [--json FILE] [--label TEXT]
        """)
    exit(64)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func value(_ name: String) -> String {
        guard let v = args.popFirst() else { usage("\(name) needs a value") }
        return v
    }
    while let a = args.popFirst() {
        switch a {
        case "--bin": o.bin = value(a)
        case "--policy": o.policy = value(a)
        case "--work": o.work = value(a)
        case "--concurrency": guard let n = Int(value(a)), n > 0, n <= 4096 else { usage("--concurrency needs 1...4096") }; o.concurrency = n
        case "--seconds": guard let s = Double(value(a)), s > 0 else { usage("--seconds needs a positive number") }; o.seconds = s
        case "--fault":
            let v = value(a).split(separator: "@")
            guard v.count == 2, let k = FaultKind(rawValue: String(v[0])), let t = Double(v[1]) else { usage("--fault needs helper|ioworker|supervisor@SECONDS") }
            o.faults.append((k, t))
        case "--log-every": guard let n = Int(value(a)), n >= 0 else { usage("--log-every needs N >= 0") }; o.logEvery = n
        case "--memory": o.memory = value(a)
        case "--pids-limit": guard let n = Int64(value(a)) else { usage("--pids-limit needs a number") }; o.pids = n
        case "--sleep": o.sleep = value(a)
        case "--audit": o.audit = value(a)
        case "--json": o.json = value(a)
        case "--label": o.label = value(a)
        default: usage("unknown argument '\(a)'")
        }
    }
    guard o.bin.hasPrefix("/"), o.work.hasPrefix("/") else { usage("--bin and --work need absolute paths") }
    o.faults.sort { $0.at < $1.at }
    if o.label.isEmpty { o.label = "uid \(getuid())" }
    return o
}

// MARK: small system helpers

func now() -> UInt64 { Clock.monotonicNanoseconds() }

func readText(_ path: String, limit: Int = 1 << 16) -> String? {
    guard let b = try? Files.read(path, limit: limit) else { return nil }
    return String(decoding: b, as: UTF8.self)
}

/// Pids in /proc.
func allPIDs() -> [Int32] { ((try? Files.listDirectory("/proc")) ?? []).compactMap { Int32($0) } }

/// (ppid, state, comm) from /proc/PID/stat.
func stat(of pid: Int32) -> (ppid: Int32, state: Character, comm: String)? {
    guard let s = readText("/proc/\(pid)/stat"), let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")") else { return nil }
    let comm = String(s[s.index(after: open)..<close])
    let fields = s[s.index(after: close)...].split(separator: " ")
    guard fields.count > 2, let state = fields[0].first, let ppid = Int32(fields[1]) else { return nil }
    return (ppid, state, comm)
}

func uidOf(_ pid: Int32) -> UInt32? {
    guard let s = readText("/proc/\(pid)/status") else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("Uid:") {
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }
    return nil
}

/// VmHWM (peak resident set) of `pid`, in KiB.
func peakRSS(_ pid: Int32) -> Int? {
    guard let s = readText("/proc/\(pid)/status") else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { Int($0) }
    }
    return nil
}

func openFDCount(_ pid: Int32) -> Int { (try? Files.listDirectory("/proc/\(pid)/fd"))?.count ?? 0 }

/// Starts `argv` with stdin from /dev/null and stdout/stderr appended to `logPath`.
func spawn(_ argv: [String], logPath: String) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, envyro_environ())
    return rc == 0 ? pid : nil
}

/// Replaces runs of 4 or more digits (pids, times) with N, so that causes group by kind, not by pid or number.
func normalize(_ text: String) -> String {
    var out = ""
    var digits = ""
    func flush() { out += digits.count >= 4 ? "N" : digits; digits = "" }
    for c in text {
        if c.isNumber { digits.append(c) } else { flush(); out.append(c) }
    }
    flush()
    return out.count > 200 ? String(out.prefix(200)) + "..." : out
}

// MARK: shared state

/// One finished run, as the client saw it.
struct RunRecord: Sendable {
    var sentNs: UInt64
    var startLatencyNs: UInt64?
    var ok: Bool
    var cause: String
    var logRun: Bool
}

/// A fault that was injected.
struct Fault: Sendable {
    var kind: FaultKind
    var atNs: UInt64
    var pid: Int32
    var note: String
}

final class Shared: @unchecked Sendable {
    let options: Options
    let socketPath: String
    let marker: String
    let startNs = now()
    let stopping = Atomic<Bool>(false)
    let slotsDone = Atomic<Int>(0)
    /// Everything below is guarded by `lock`.
    let lock = Mutex<Void>(())
    nonisolated(unsafe) var supervisorPID: Int32 = 0
    nonisolated(unsafe) var supervisorGeneration = 0
    nonisolated(unsafe) var exits: [Int32: Int32] = [:]
    nonisolated(unsafe) var records: [RunRecord] = []
    nonisolated(unsafe) var faults: [Fault] = []
    nonisolated(unsafe) var helpersSeen: Set<Int32> = []
    nonisolated(unsafe) var peak: [String: Int] = ["supervisor": 0, "helper": 0, "ioworker": 0]
    nonisolated(unsafe) var peakHelpers = 0
    nonisolated(unsafe) var peakSupervisorFDs = 0
    nonisolated(unsafe) var notes: [String] = []

    init(options: Options) {
        self.options = options
        socketPath = options.work + "/run/supervisor.sock"
        marker = "envyro-load-\(getpid())"
    }

    func note(_ s: String) {
        lock.withLock { _ in notes.append(s) }
        print("[\(options.label)] \(s)")
    }
    var elapsed: Double { Double(now() - startNs) / 1e9 }
}

// MARK: the supervisor

func startSupervisor(_ s: Shared) -> Bool {
    let argv = [s.options.bin + "/envyro-supervisor", "--policy", s.options.policy, "--socket", s.socketPath]
    guard let pid = spawn(argv, logPath: s.options.work + "/supervisor.log") else {
        s.note("cannot start \(argv[0]): \(SystemError.current("posix_spawn"))")
        return false
    }
    let deadline = now() + 15_000_000_000
    while now() < deadline {
        if let c = ClientProtocol.connect(s.socketPath) {
            c.close()
            s.lock.withLock { _ in
                s.supervisorPID = pid
                s.supervisorGeneration += 1
            }
            return true
        }
        if s.lock.withLock({ _ in s.exits[pid] }) != nil { break }
        usleep(10_000)
    }
    s.note("the supervisor (pid \(pid)) did not start serving; see \(s.options.work)/supervisor.log")
    return false
}

/// Waits (reaped by the reaper thread) for `pid` to exit; its wait status, or nil on timeout.
func waitExit(_ s: Shared, _ pid: Int32, seconds: Double) -> Int32? {
    let deadline = now() + UInt64(seconds * 1e9)
    while now() < deadline {
        if let st = s.lock.withLock({ _ in s.exits[pid] }) { return st }
        usleep(5_000)
    }
    return nil
}

/// The children of `pid` by comm.
func children(of pid: Int32, comm: String? = nil) -> [Int32] {
    allPIDs().filter { p in
        guard let st = stat(of: p), st.ppid == pid else { return false }
        return comm == nil || st.comm == comm
    }
}

// MARK: one slot: one connection, one run at a time

func slot(_ s: Shared, index: Int, devNull: Int32) {
    var conn: SeqPacketSocket? = nil
    var n = 0
    var local: [RunRecord] = []
    let o = s.options
    while !s.stopping.load(ordering: .relaxed) {
        if conn == nil {
            let generation = s.lock.withLock { _ in s.supervisorGeneration }
            if let c = ClientProtocol.connect(s.socketPath) {
                conn = c
            } else {
                local.append(RunRecord(sentNs: now(), startLatencyNs: nil, ok: false,
                                       cause: "supervisor unreachable: nothing accepts on \(s.socketPath)", logRun: false))
                // Once per outage: wait for the next supervisor (or the end).
                while !s.stopping.load(ordering: .relaxed) && s.lock.withLock({ _ in s.supervisorGeneration }) == generation {
                    usleep(20_000)
                }
                continue
            }
        }
        guard let c = conn else { continue }
        n += 1
        let logRun = o.logEvery > 0 && (index + n) % o.logEvery == 0
        var body: JSONObject = [
            "argv": .array([.string("sh"), .string("-c"), .string("echo ok; sleep \(o.sleep)"), .string(s.marker)]),
            "memory": .string(o.memory), "pidsLimit": .int(o.pids), "hostname": .string("load\(index)"),
        ]
        if logRun {
            let dir = o.work + "/logs/\(index)"
            _ = try? Files.makeDirectories(dir, mode: 0o700)
            body.set("logDir", .string(dir))
        }
        let sent = now()
        var record = RunRecord(sentNs: sent, startLatencyNs: nil, ok: false, cause: "", logRun: logRun)
        do {
            try c.send(ClientMessage(verb: .run, requestID: UInt32(n), body: body).encode(), fds: [devNull, devNull, devNull])
        } catch {
            record.cause = "the supervisor closed the connection (send: \(error))"
            local.append(record)
            c.close(); conn = nil
            continue
        }
        reply: while true {
            let m: ClientMessage
            do { m = try ClientProtocol.receive(c) } catch {
                record.cause = "the supervisor closed the connection mid-run (\(error))"
                c.close(); conn = nil
                break reply
            }
            switch m.verb {
            case .started:
                record.startLatencyNs = now() - sent
            case .finished:
                let code = m.body["exitCode"]?.intValue ?? -1
                if code == 0 { record.ok = true } else {
                    record.cause = "the workload exited with status \(code) (signal \(m.body["signal"]?.intValue ?? 0), oomKilled \(m.body["oomKilled"]?.boolValue ?? false))"
                }
                break reply
            case .error:
                record.cause = m.body["message"]?.stringValue ?? "an error without a message"
                break reply
            default:
                record.cause = "an unexpected reply (verb \(m.verb))"
                break reply
            }
        }
        local.append(record)
    }
    conn?.close()
    s.lock.withLock { _ in s.records.append(contentsOf: local) }
    s.slotsDone.add(1, ordering: .relaxed)
}

// MARK: faults

func inject(_ s: Shared, _ kind: FaultKind) {
    let sup = s.lock.withLock { _ in s.supervisorPID }
    switch kind {
    case .helper:
        // A helper with a container in flight (a child of its own), so a run sees the death.
        let deadline = now() + 5_000_000_000
        while now() < deadline {
            // One pass over /proc: a helper whose child runs a workload of ours (the marker is
            // in its command line), not one holding only prewarmed members.
            var table: [Int32: (ppid: Int32, comm: String)] = [:]
            for p in allPIDs() { if let st = stat(of: p) { table[p] = (st.ppid, st.comm) } }
            let busy = table.compactMap { p, e -> Int32? in
                guard e.comm == "sh", let helper = table[e.ppid], helper.comm == "envyro-nshelper", helper.ppid == sup,
                      (readText("/proc/\(p)/cmdline") ?? "").contains(s.marker) else { return nil }
                return e.ppid
            }
            if let victim = busy.first {
                kill(victim, SIGKILL)
                s.lock.withLock { _ in s.faults.append(Fault(kind: .helper, atNs: now(), pid: victim, note: "kill -9 helper \(victim)")) }
                s.note("fault: kill -9 helper \(victim) at \(Int(s.elapsed)) s")
                return
            }
            usleep(10_000)
        }
        s.note("fault: no busy helper found to kill")
    case .ioworker:
        let deadline = now() + 10_000_000_000
        while now() < deadline {
            if let victim = children(of: sup, comm: "envyro-ioworker").first {
                kill(victim, SIGKILL)
                s.lock.withLock { _ in s.faults.append(Fault(kind: .ioworker, atNs: now(), pid: victim, note: "kill -9 I/O worker \(victim)")) }
                s.note("fault: kill -9 I/O worker \(victim) at \(Int(s.elapsed)) s")
                return
            }
            usleep(20_000)
        }
        s.note("fault: no I/O worker found to kill (no --log-dir run yet?)")
    case .supervisor:
        let helpers = children(of: sup, comm: "envyro-nshelper") + children(of: sup, comm: "envyro-ioworker")
        kill(sup, SIGKILL)
        let t = now()
        s.lock.withLock { _ in s.faults.append(Fault(kind: .supervisor, atNs: t, pid: sup, note: "kill -9 supervisor \(sup)")) }
        s.note("fault: kill -9 supervisor \(sup) at \(Int(s.elapsed)) s (\(helpers.count) helpers and workers orphaned)")
        _ = waitExit(s, sup, seconds: 10)
        // Its helpers see EOF, kill their containers and exit; they are reparented to us.
        var left = helpers
        let deadline = now() + 10_000_000_000
        while !left.isEmpty && now() < deadline {
            left = left.filter { p in s.lock.withLock { _ in s.exits[p] } == nil && kill(p, 0) == 0 }
            usleep(10_000)
        }
        if !left.isEmpty { s.note("after the supervisor's death, \(left.count) of its helpers were still running 10 s later: \(left)") }
        let restarted = startSupervisor(s)
        s.note("supervisor restarted \(restarted ? "" : "FAILED ")in \(Double((now() - t) / 1_000_000) / 1000) s")
    }
}

/// Does `record` name a fault injected shortly before it ended?
func explainingFault(_ r: RunRecord, _ faults: [Fault]) -> FaultKind? {
    for f in faults where r.sentNs <= f.atNs + 20_000_000_000 && r.sentNs + 60_000_000_000 >= f.atNs {
        let c = r.cause
        // The supervisor's death reaches a client as its connection closing or resetting (the
        // subject "helper socket" in a reset is SeqPacketSocket's default, not a helper).
        if c.contains("the supervisor closed the connection") || c.contains("supervisor unreachable") {
            if f.kind == .supervisor { return .supervisor }
            continue
        }
        switch f.kind {
        case .helper where c.contains("helper") && (c.contains("signal 9") || c.contains("closed") || c.contains("reset") || c.contains("gone") || c.contains("exited")):
            return .helper
        case .ioworker where c.contains("I/O worker"):
            return .ioworker
        default: continue
        }
    }
    return nil
}

// MARK: leak checks

struct Leaks {
    var items: [(kind: String, what: String)] = []
    mutating func add(_ kind: String, _ what: String) { items.append((kind, what)) }
}

func cgroupRoots() -> [String] {
    let sub = getuid() == 0 ? "root" : "u\(getuid())"
    var out: [String] = []
    for c in (try? Files.listDirectory("/sys/fs/cgroup")) ?? [] {
        let p = "/sys/fs/cgroup/\(c)/envyro/\(sub)"
        if Files.kind(p) == .directory { out.append(p) }
    }
    return out
}

func ourCgroups(_ s: Shared) -> [String] {
    let helpers = s.lock.withLock { _ in s.helpersSeen }
    var out: [String] = []
    for root in cgroupRoots() {
        for name in (try? Files.listDirectory(root)) ?? [] {
            guard Files.kind(root + "/" + name) == .directory else { continue }
            // c-<helper pid>-<start>-<n>: ours if a helper of ours made it (root's subtree is
            // shared with other tests); a user's subtree is all ours.
            let owner = name.hasPrefix("c-") ? Int32(name.dropFirst(2).prefix { $0.isNumber }) : nil
            if getuid() != 0 || owner.map({ helpers.contains($0) }) == true { out.append(root + "/" + name) }
        }
    }
    return out
}

func interestingMounts() -> Set<String> {
    Set((readText("/proc/self/mountinfo", limit: 1 << 22) ?? "").split(separator: "\n").map(String.init).filter {
        $0.contains("envyro") || $0.contains("nsfs") || $0.contains("load")
    })
}

func tmpEntries() -> Set<String> {
    var out = Set<String>()
    for name in (try? Files.listDirectory("/tmp")) ?? [] {
        var st = Glibc.stat()
        guard lstat("/tmp/" + name, &st) == 0, st.st_uid == getuid() else { continue }
        // Root's /tmp is shared with every other test on the machine: only envyro's own names.
        if getuid() == 0 && !(name.hasPrefix("envyro") && !name.hasPrefix("envyro-it-") && !name.hasPrefix("envyro-io-test-")) { continue }
        out.insert(name)
    }
    return out
}

func markerProcesses(_ s: Shared) -> [String] {
    allPIDs().compactMap { p -> String? in
        guard p != getpid(), let cmd = readText("/proc/\(p)/cmdline"), cmd.contains(s.marker) else { return nil }
        return "\(p) \(cmd.replacingZeros())"
    }
}

extension String {
    func replacingZeros() -> String { String(self.map { $0 == "\0" ? " " : $0 }) }
}

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

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}
