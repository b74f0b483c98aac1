// envyro-load's driver: shared state, the supervisor it starts, one slot's runs, and fault injection.

import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

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
