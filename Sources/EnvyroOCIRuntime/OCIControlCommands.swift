// The OCI commands that act on a container through the helper's oci_control: kill, delete,
// pause, resume, update (create, start, run and exec are in OCIRuntime.swift).
import EnvyroOCI
import EnvyroProtocol
import EnvyroSystem
import Glibc

extension OCIRuntime {
    // MARK: - kill / delete / pause / update

    func kill(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "kill", valued: ["pid"], boolean: ["all"], aliases: ["a": "all"])
        guard (1...2).contains(a.positionals.count) else { throw OCIFailure("kill: usage: kill [--all] ID [SIGNAL]") }
        let (dir, rec) = try load(a.positionals[0])
        let sig = try Signals.parse(a.positionals.count > 1 ? a.positionals[1] : "SIGTERM")
        let st = status(dir, rec)
        if st == .stopped && !a.flag("all") { throw OCIFailure("container not running") }
        let op: OCIControlOp = a.flag("all") ? .signalAll : .signal
        if st == .stopped && rec.cgroupPath.isEmpty { return 0 }
        _ = try call(.ociControl(OCIControlRequest(op: op, id: rec.id, cgroup: rec.cgroupPath, pid: rec.pid, startTime: rec.pidStartTime, signal: sig)))
        return 0
    }

    /// `delete [--force] ID...`: each container in turn; a failure is reported and the others
    /// are still deleted, and the status is 1 when any failed.
    func delete(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "delete", valued: [], boolean: ["force"], aliases: ["f": "force"])
        guard !a.positionals.isEmpty else { throw OCIFailure("delete: needs at least one container id") }
        if a.positionals.count == 1 { return try deleteOne(a.positionals[0], force: a.flag("force")) }
        var failed = false
        for id in a.positionals {
            do throws(OCIFailure) { _ = try deleteOne(id, force: a.flag("force")) } catch {
                OCIMain.report(error.message, globals: globals)
                failed = true
            }
        }
        return failed ? 1 : 0
    }

    func deleteOne(_ id: String, force: Bool) throws(OCIFailure) -> Int32 {
        let dir: OCIContainerDir, rec: OCIRecord
        do throws(OCIFailure) { (dir, rec) = try load(id) } catch {
            // runc: deleting what isn't there with --force is not an error.
            if force && error.message.hasPrefix("container \"\(id)\" does not exist") { return 0 }
            throw error
        }
        let st = status(dir, rec)
        if st != .stopped && st != .created && !force {
            throw OCIFailure("cannot delete container \(id) that is not stopped: \(st.rawValue)")
        }
        return try deleteOne(dir, rec, status: st)
    }

    /// Deletes a container whose record and status are known (`run`, after reaping it).
    func deleteOne(_ dir: OCIContainerDir, _ rec: OCIRecord, status st: OCIStatus) throws(OCIFailure) -> Int32 {
        // Made before the state goes, and only when a poststop hook will read it.
        let state = rec.poststop.isEmpty ? "" : stateDocument(dir, rec, status: st)
        _ = try call(.ociControl(OCIControlRequest(op: .destroy, id: rec.id, cgroup: rec.cgroupPath,
                                                   pid: st == .stopped ? 0 : rec.pid, startTime: rec.pidStartTime)))
        unlink(dir.startSocket)
        unlink(dir.stateFile)
        rmdir(dir.path)
        try runHooks(rec.poststop, kind: "poststop", state: state, warnOnly: true)
        return 0
    }

    func pauseResume(_ args: [String], pause: Bool) throws(OCIFailure) -> Int32 {
        let name = pause ? "pause" : "resume"
        let a = try OCIArguments(args, command: name, valued: [], boolean: [])
        guard a.positionals.count == 1 else { throw OCIFailure("\(name): needs exactly one container id") }
        let (dir, rec) = try load(a.positionals[0])
        let st = status(dir, rec)
        if pause && st != .running { throw OCIFailure("container not running") }
        if !pause && st != .paused { throw OCIFailure("container not paused") }
        guard !rec.cgroupPath.isEmpty else { throw OCIFailure("\(name): the container has no cgroup (rootless without a delegated subtree: `sudo envyro setup --user NAME`)") }
        _ = try call(.ociControl(OCIControlRequest(op: pause ? .freeze : .thaw, id: rec.id, cgroup: rec.cgroupPath, pid: rec.pid, startTime: rec.pidStartTime)))
        return 0
    }

    func update(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "update",
                                 valued: ["resources", "memory", "memory-swap", "memory-reservation", "kernel-memory", "kernel-memory-tcp",
                                          "pids-limit", "cpu-quota", "cpu-period", "cpu-share", "cpuset-cpus", "cpuset-mems",
                                          "blkio-weight", "cpu-rt-period", "cpu-rt-runtime", "l3-cache-schema", "mem-bw-schema", "cpu-idle"],
                                 boolean: [], aliases: ["r": "resources"])
        guard a.positionals.count == 1 else { throw OCIFailure("update: needs exactly one container id") }
        let (dir, rec) = try load(a.positionals[0])
        guard status(dir, rec) != .stopped else { throw OCIFailure("container not running") }
        guard !rec.cgroupPath.isEmpty else { throw OCIFailure("update: the container has no cgroup") }
        let limits = try OCILowering.updateLimits(a)
        _ = try call(.ociControl(OCIControlRequest(op: .update, id: rec.id, cgroup: rec.cgroupPath, pid: rec.pid, startTime: rec.pidStartTime, limits: limits)))
        return 0
    }
}
