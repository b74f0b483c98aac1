// The OCI commands, carried out through the privilege-separated path: every privileged step
// (namespaces, mounts, cgroups, signals to the container, exec) is a helper verb, audited; this
// process only reads bundles, keeps state files and talks to the engine.
//
// Process model (why create spawns its own helper instead of using the daemon): engines reap
// the container themselves. conmon and containerd's shim are child subreapers and wait for the
// container's pid, so the container must be their descendant. `create` therefore starts a
// helper as its own child; the helper clones the container held and detached, as `create`'s
// child (CLONE_PARENT), and exits with `create`; the container is then reparented to the
// engine's subreaper.
import CEnvyro
import EnvyroCgroup
import EnvyroJSON
import EnvyroOCI
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSupervisor
import EnvyroSystem
import Glibc

typealias OCIStatus = OCIState.Status
typealias OCIRecord = PersistedContainer

/// One container's state directory: `<root>/<id>/` with `state.json` and, while it waits to be
/// started, `start.sock`.
struct OCIContainerDir {
    let root: String
    let id: String
    var path: String { root + "/" + id }
    var stateFile: String { path + "/state.json" }
    var startSocket: String { path + "/start.sock" }

    /// runc's rule for ids: `^[\w+-\.]+$` (letters, digits, `_`, and the range `+` to `.`:
    /// `+ , - .`), not `.` or `..`; runc's message.
    static func checkID(_ id: String) throws(OCIFailure) {
        let ok = !id.isEmpty && id != "." && id != ".." && id.utf8.count <= 1024 && id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == 0x5f || (c >= 0x2b && c <= 0x2e)
        }
        if !ok { throw OCIFailure("invalid container ID format: \(id)") }
    }
}

/// The OCI runtime: one command per process.
final class OCIRuntime: @unchecked Sendable {   // one command per process; the create hooks' thread shares it
    let globals: OCIGlobals
    init(globals: OCIGlobals) { self.globals = globals }

    var root: String { globals.stateRoot }
    var policyName: String { globals.policy ?? Environment.get("ENVYRO_OCI_POLICY") ?? "oci" }

    /// The embedded supervisor, whose helper carries out the privileged steps.
    lazy var supervisor = EmbeddedSupervisor(policy: policyName, client: "envyro-oci", modes: .oci, pipelineHello: true)

    func debug(_ message: String) {
        guard globals.debug else { return }
        OCIMain.log(message, globals: globals, level: "debug")
    }

    func dispatch(_ command: String, _ args: [String]) throws(OCIFailure) -> Int32 {
        // `help [COMMAND]`, as runc has it.
        if command == "help" {
            guard let name = args.first else { OCIMain.printUsage(globals.program); return 0 }
            return try dispatch(name, ["--help"])
        }
        // `COMMAND --help` before anything else: it never names a container or runs anything.
        if OCIHelp.asked(command, args) {
            guard let text = OCIHelp.text(command, program: globals.program) else {
                throw OCIFailure("no such command: \(command) (\(globals.program) --help lists them)")
            }
            print(text, terminator: "")
            return 0
        }
        if !["spec", "features", "events", "checkpoint", "restore"].contains(command) {
            try checkStateRoot(creating: command == "create" || command == "run")
        }
        switch command {
        case "create": return try create(args)
        case "start": return try start(args)
        case "run": return try run(args)
        case "state": return try state(args)
        case "kill": return try kill(args)
        case "delete": return try delete(args)
        case "exec": return try exec(args)
        case "ps": return try ps(args)
        case "list": return try list(args)
        case "pause": return try pauseResume(args, pause: true)
        case "resume": return try pauseResume(args, pause: false)
        case "update": return try update(args)
        case "spec": return try spec(args)
        case "features": print(OCIFeatures.json(version: envyroVersion, seccomp: SeccompFeatures.current)); return 0
        case "events": throw OCIFailure("events: not supported by envyro (read the container's cgroup, or `envyro state`)")
        case "checkpoint", "restore": throw OCIFailure("\(command): not supported by envyro (no CRIU)")
        default: throw OCIFailure("no such command: \(command) (\(globals.program) --help lists them)")
        }
    }

    // MARK: - helpers

    /// The state root holds `state.json` files whose hooks `start` and `delete` run: it is used
    /// only when it is a real directory of ours that nobody else can write (lstat), and the
    /// `/tmp/envyro-UID` fallback only when it is ours with mode 0700. In `/tmp` another user
    /// can make that directory first and plant a container whose hooks we would run (issue 13,
    /// item 4). `creating`: make what is missing (`/tmp/envyro-UID` 0700, the root 0711).
    func checkStateRoot(creating: Bool) throws(OCIFailure) {
        let uid = geteuid()
        let shared = "/tmp/envyro-\(uid)"
        if root == shared || root.hasPrefix(shared + "/") {
            if creating {
                do { try RuntimeDirectory.prepare(shared) } catch { throw OCIFailure("refusing the state directory \(root): \(error)") }
            } else if Files.kind(shared) != .missing, let why = RuntimeDirectory.refusal(shared, uid: uid) {
                throw OCIFailure("refusing the state directory \(root): \(why)")
            }
        }
        if creating {
            do { try Files.makeDirectories(root, mode: 0o711) } catch { throw OCIFailure("cannot create the state directory \(root): \(error)") }
        }
        var st = stat()
        guard lstat(root, &st) == 0 else { return }   // nothing there: every container "does not exist"
        let problem: String?
        if st.st_mode & S_IFMT == S_IFLNK { problem = "it is a symlink" }
        else if st.st_mode & S_IFMT != S_IFDIR { problem = "it is not a directory" }
        else if st.st_uid != uid { problem = "it belongs to uid \(st.st_uid)\(Environment.userName(uid: st.st_uid).map { " (\($0))" } ?? ""), not to you (uid \(uid)), who could plant containers and hooks there" }
        else if st.st_mode & 0o022 != 0 { problem = "it is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)))" }
        else { problem = nil }
        if let problem {
            throw OCIFailure("refusing the state directory \(root): \(problem); use a directory of your own that only you can write (--root DIR, or set XDG_RUNTIME_DIR)")
        }
    }

    /// The helper's answer to `message`, or the failure as runc-style text.
    func call(_ message: Message, fds: [Int32] = []) throws(OCIFailure) -> Message {
        let reply: Message
        do { reply = try supervisor.helperCall(message, fds: fds) } catch {
            throw OCIFailure(error.description)
        }
        if case .failed(let f) = reply { throw OCIFailure(f.message.isEmpty ? "\(f.step) failed" : f.message) }
        return reply
    }

    /// A container's saved record, or runc's "does not exist".
    func load(_ id: String) throws(OCIFailure) -> (OCIContainerDir, OCIRecord) {
        try OCIContainerDir.checkID(id)
        let dir = OCIContainerDir(root: root, id: id)
        guard let bytes = try? Files.read(dir.stateFile, limit: 1 << 20) else {
            // Under the `envyro` name without --root, say where we looked: an engine's
            // containers live under the --root it passes (to envyro-runc).
            if globals.program != OCIMain.runcName && globals.root == nil {
                throw OCIFailure("container \"\(id)\" does not exist (looked in \(root); an engine's containers are under the --root it gives: \(OCIMain.runcName) --root DIR ...)")
            }
            throw OCIFailure("container \"\(id)\" does not exist")
        }
        do { return (dir, try OCIRecord.parse(bytes: bytes)) } catch {
            throw OCIFailure("container \(id): its state file \(dir.stateFile) is unreadable: \(error)")
        }
    }

    /// The container's status, from its process, start socket and freezer.
    func status(_ dir: OCIContainerDir, _ rec: OCIRecord) -> OCIStatus {
        guard rec.pid > 0, let start = ContainerCgroup.processStartTime(rec.pid), start == rec.pidStartTime,
              !ProcessInfo.isZombie(rec.pid) else { return .stopped }
        if Files.kind(dir.startSocket) != .missing { return .created }
        if let frozen = ProcessInfo.frozen(rec.pid), frozen { return .paused }
        return .running
    }

    /// The state document (runtime-spec) of a container; `known` when the caller has just
    /// looked its status up.
    func stateDocument(_ dir: OCIContainerDir, _ rec: OCIRecord, status known: OCIStatus? = nil) -> String {
        let st = known ?? status(dir, rec)
        var doc = rec.state(status: st, owner: ProcessInfo.userName(rec.uid))
        if st == .stopped { doc.pid = 0 }
        return doc.json()
    }

    /// Runs one kind of hook with the state on stdin; a failure throws (unless `warnOnly`).
    /// The state document is made only when there is a hook to give it to: it costs /proc reads
    /// and a user name lookup (NSS: nscd, /etc/passwd) that a bundle without hooks never needs.
    func runHooks(_ hooks: [OCIConfig.Hook], kind: String, state makeState: @autoclosure () -> String, warnOnly: Bool = false) throws(OCIFailure) {
        guard !hooks.isEmpty else { return }
        let state = makeState()
        for (i, h) in hooks.enumerated() {
            debug("running \(kind) hook \(i): \(h.path)")
            if let why = HookRunner.run(h, stdin: state) {
                let msg = "\(kind) hook #\(i) (\(h.path)) failed: \(why)"
                if warnOnly { OCIMain.report(msg, globals: globals, level: "warning") } else { throw OCIFailure(msg) }
            }
        }
    }

    /// Writes `text` to `path` atomically (a temp file renamed over it), mode 0644.
    func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o644) throws(OCIFailure) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw OCIFailure("cannot write \(path): \(Errno.describe(errno))") }
        let bytes = Array(text.utf8)
        do { try Files.writeAll(fd, bytes, subject: tmp) } catch {
            close(fd); unlink(tmp)
            throw OCIFailure("cannot write \(path): \(error)")
        }
        close(fd)
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw OCIFailure("cannot write \(path): \(Errno.describe(e))")
        }
    }

    // MARK: - create / start / run

    /// `create`: the container exists, in its namespaces and cgroup, and waits before exec.
    @discardableResult
    func create(_ args: [String], forRun: Bool = false) throws(OCIFailure) -> Int32 {
        _ = try createContainer(args, forRun: forRun)
        return 0
    }

    /// `create`'s work; returns the container's state directory and the record it saved.
    func createContainer(_ args: [String], forRun: Bool) throws(OCIFailure) -> (OCIContainerDir, OCIRecord) {
        let a = try OCIArguments(args, command: forRun ? "run" : "create",
                                 valued: ["bundle", "pid-file", "console-socket", "preserve-fds"],
                                 boolean: ["no-pivot", "no-new-keyring", "detach", "no-subreaper", "keep"],
                                 aliases: ["b": "bundle", "d": "detach"])
        guard a.positionals.count == 1, let id = a.positionals.first else {
            throw OCIFailure("\(forRun ? "run" : "create"): needs exactly one container id (got \(a.positionals.count))")
        }
        try OCIContainerDir.checkID(id)
        // Before any descriptor of ours is open (a helper's socket would take the lowest free
        // number, one the caller may name without having opened it).
        let preserved = try OCIPreservedFDs.from(a)
        // The helper (started by the C front, or now) gets its `hello` at once: it answers it
        // while the bundle is read and lowered here, and the create follows without a round trip.
        supervisor.startHelper()
        // Relative paths are the caller's working directory's: resolved now, before anything
        // (a long socket path is reached by chdir).
        let pidFile = a.value("pid-file").map(Self.absolute)
        let bundle = Self.absolute(a.value("bundle") ?? ".")
        let config: OCIConfig
        do { config = try OCIConfig.load(bundle: bundle) } catch { throw OCIFailure("\(error)") }
        guard let process = config.process else { throw OCIFailure("config.json: process: missing (envyro needs a process to run)") }

        // Console: runc's rules.
        var consoleFD: Int32 = -1
        if process.terminal {
            guard let path = a.value("console-socket") else {
                throw OCIFailure("cannot allocate tty if runc will detach without setting console socket: process.terminal is true, so --console-socket is required")
            }
            consoleFD = try UnixSocket.connect(path)
        } else if a.value("console-socket") != nil {
            throw OCIFailure("--console-socket given but process.terminal is false in config.json")
        }
        defer { if consoleFD >= 0 { close(consoleFD) } }

        var lowered: OCILowered
        do { lowered = try OCILowering.lower(config, bundle: bundle, id: id, stateRoot: root) } catch { throw OCIFailure("\(error)") }
        preserved.apply(to: &lowered.request.process)

        // The state directory: its existence is the id's reservation.
        let dir = OCIContainerDir(root: root, id: id)
        if mkdir(dir.path, 0o711) != 0 {
            if errno == EEXIST { throw OCIFailure("container with id exists: \(id)") }
            throw OCIFailure("cannot create \(dir.path): \(Errno.describe(errno))")
        }
        var created: (pid: Int32, startTime: UInt64)? = nil
        var ok = false
        defer {
            if !ok {
                // Nothing is left behind: the container (if it exists) and its cgroup, the state.
                if let c = created {
                    _ = try? call(.ociControl(OCIControlRequest(op: .destroy, id: id, cgroup: lowered.request.cgroup, pid: c.pid, startTime: c.startTime)))
                }
                unlink(dir.startSocket)
                unlink(dir.stateFile)
                rmdir(dir.path)
            }
        }
        let startFD = try UnixSocket.listen(dir.startSocket)
        defer { close(startFD) }
        let placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if placeholder >= 0 { close(placeholder) } }
        let stdio = (0...2).map { fd -> Int32 in fcntl(Int32(fd), F_GETFD) >= 0 ? Int32(fd) : placeholder }

        debug("create \(id): bundle \(bundle), rootfs \(lowered.request.base.rootfs)")
        var rec = OCIRecord(id: id, bundle: bundle, rootfs: lowered.request.base.rootfs, pid: 0, pidStartTime: 0,
                            created: OCITime.now(), annotations: config.annotations,
                            cgroupPath: lowered.request.cgroup, namespaceFlags: lowered.request.base.namespaces.rawValue,
                            configDigest: "", uid: geteuid(), startContainer: lowered.hooks.startContainer,
                            poststart: lowered.hooks.poststart, poststop: lowered.hooks.poststop)
        // createRuntime (after prestart, as runc) and createContainer run while the container
        // waits after its mounts, before pivot_root (OCICreateHooks.swift), in our namespaces.
        var request = lowered.request
        let runtimeHooks = lowered.hooks.prestart + lowered.hooks.createRuntime, containerHooks = lowered.hooks.createContainer
        var pause: OCICreateHookPause? = nil
        if !runtimeHooks.isEmpty || !containerHooks.isEmpty {
            request.pausesForHooks = true
            let p = try OCICreateHookPause(startSocket: dir.startSocket)
            pause = p
            let provisional = rec
            p.start { [self] pid throws(OCIFailure) in
                var r = provisional
                r.pid = pid
                r.pidStartTime = ContainerCgroup.processStartTime(pid) ?? 0
                let state = r.state(status: .creating, owner: ProcessInfo.userName(r.uid)).json()
                try runHooks(runtimeHooks, kind: "createRuntime", state: state)
                try runHooks(containerHooks, kind: "createContainer", state: state)
            }
        }
        let reply: Message
        do throws(OCIFailure) {
            reply = try call(.ociCreate(request), fds: stdio + [startFD, consoleFD >= 0 ? consoleFD : placeholder] + preserved.fds)
        } catch {
            // A hook's failure is the reason the container gave up: say that, not its echo.
            pause?.finish()
            throw pause?.failure ?? error
        }
        pause?.finish()
        if let failure = pause?.failure { throw failure }
        if pause?.ran == false { throw OCIFailure("the container did not stop for its createRuntime and createContainer hooks") }
        guard case .created(let c) = reply else { throw OCIFailure("unexpected answer \(reply.verb.name) to oci_create") }
        guard let startTime = ContainerCgroup.processStartTime(c.pid) else { throw OCIFailure("the container's process \(c.pid) died during create") }
        created = (c.pid, startTime)
        rec.pid = c.pid
        rec.pidStartTime = startTime
        if !ProcessInfo.inCgroup(c.pid, named: lowered.request.cgroup) { rec.cgroupPath = "" }
        try writeAtomically(dir.stateFile, rec.json(), mode: 0o600)
        if let pidFile { try writeAtomically(pidFile, String(c.pid)) }
        ok = true
        return (dir, rec)
    }

    /// `start`: lets a created container exec its process.
    func start(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "start", valued: [], boolean: [])
        guard a.positionals.count == 1 else { throw OCIFailure("start: needs exactly one container id") }
        let (dir, rec) = try load(a.positionals[0])
        return try start(dir, rec)
    }

    /// `start` of a container whose record is in hand (`run` has just written it: not read back).
    func start(_ dir: OCIContainerDir, _ rec: OCIRecord) throws(OCIFailure) -> Int32 {
        switch status(dir, rec) {
        case .created: break
        case .stopped: throw OCIFailure("cannot start a container that has stopped")
        case .running, .paused: throw OCIFailure("cannot start an already running container")
        case .creating: throw OCIFailure("cannot start a container that is still being created")
        }
        // The hooks saved at create: the bundle is not read again (it may have been rewritten
        // since). A failing startContainer or poststart hook fails `start` as with runc, and the
        // container goes entirely (process, cgroup, state): nothing is left half-started.
        do throws(OCIFailure) {
            try runHooks(rec.startContainer, kind: "startContainer", state: stateDocument(dir, rec, status: .created))
            do { try UnixSocket.sendStart(dir.startSocket) } catch {
                throw OCIFailure("cannot start container \(rec.id): \(error.message)")
            }
            unlink(dir.startSocket)
            try runHooks(rec.poststart, kind: "poststart", state: stateDocument(dir, rec))
        } catch {
            teardown(dir, rec)
            throw error
        }
        return 0
    }

    /// Removes a container that failed to start: its processes and cgroup, its state, then its
    /// poststop hooks (warnings only), as `delete --force` would.
    func teardown(_ dir: OCIContainerDir, _ rec: OCIRecord) {
        let state = stateDocument(dir, rec, status: .stopped)
        _ = try? call(.ociControl(OCIControlRequest(op: .destroy, id: rec.id, cgroup: rec.cgroupPath, pid: rec.pid, startTime: rec.pidStartTime)))
        unlink(dir.startSocket)
        unlink(dir.stateFile)
        rmdir(dir.path)
        try? runHooks(rec.poststop, kind: "poststop", state: state, warnOnly: true)
    }

    /// `run`: create + start, then (unless --detach) wait for the process and return its status.
    func run(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "run", valued: ["bundle", "pid-file", "console-socket", "preserve-fds"],
                                 boolean: ["no-pivot", "no-new-keyring", "detach", "no-subreaper", "keep"],
                                 aliases: ["b": "bundle", "d": "detach"])
        guard a.positionals.count == 1 else { throw OCIFailure("run: needs exactly one container id") }
        let detach = a.flag("detach")
        // The container is our child (CLONE_PARENT); as a subreaper we also reap what it leaves.
        if !detach { _ = envyro_prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0) }
        // The record create saved is used as it is: start, the wait and the delete don't read
        // state.json back (this process wrote it; nothing else has the id yet).
        let (dir, rec) = try createContainer(args.filter { $0 != "--detach" && $0 != "-d" }, forRun: true)
        _ = try start(dir, rec)
        if detach { return 0 }
        // The container is our child (the helper clones it with CLONE_PARENT); the helper stays
        // for the delete.
        let status = ProcessInfo.waitForChild(rec.pid)
        // Reaped above: stopped, whatever /proc says of a recycled pid.
        if !a.flag("keep") { _ = try? deleteOne(dir, rec, status: .stopped) }
        return status
    }

    // MARK: - exec

    func exec(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "exec",
                                 valued: ["process", "env", "cwd", "user", "additional-gids", "cap", "pid-file", "console-socket",
                                          "preserve-fds", "process-label", "apparmor", "cgroup"],
                                 boolean: ["tty", "detach", "no-new-privs", "ignore-paused", "no-subreaper"],
                                 aliases: ["p": "process", "e": "env", "u": "user", "g": "additional-gids", "c": "cap", "t": "tty", "d": "detach"],
                                 stopAtFirstPositional: true)
        guard let id = a.positionals.first else { throw OCIFailure("exec: needs a container id") }
        let (dir, rec) = try load(id)
        switch status(dir, rec) {
        case .running: break
        case .paused: throw OCIFailure("cannot exec in a paused container (resume it first)")
        default: throw OCIFailure("cannot exec in a stopped container")
        }
        let preserved = try OCIPreservedFDs.from(a)
        if a.value("apparmor").map({ !$0.isEmpty }) == true { throw OCIFailure("--apparmor: AppArmor is not supported by envyro") }
        if a.value("process-label").map({ !$0.isEmpty }) == true { throw OCIFailure("--process-label: SELinux is not supported by envyro") }
        if a.value("cgroup") != nil { throw OCIFailure("--cgroup: exec into a sub-cgroup is not supported by envyro") }
        var process = try OCILowering.execProcess(a, record: rec)
        preserved.apply(to: &process)
        let pidFile = a.value("pid-file").map(Self.absolute)

        var consoleFD: Int32 = -1
        if process.terminal {
            guard let path = a.value("console-socket") else { throw OCIFailure("exec --tty needs --console-socket") }
            consoleFD = try UnixSocket.connect(path)
        }
        defer { if consoleFD >= 0 { close(consoleFD) } }
        let detach = a.flag("detach")
        if !detach { _ = envyro_prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0) }
        let placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if placeholder >= 0 { close(placeholder) } }
        let stdio = (0...2).map { fd -> Int32 in fcntl(Int32(fd), F_GETFD) >= 0 ? Int32(fd) : placeholder }
        let request = OCIExecRequest(id: rec.id, cgroup: rec.cgroupPath, pid: rec.pid, startTime: rec.pidStartTime,
                                     namespaces: NamespaceSet(rawValue: rec.namespaceFlags), process: process,
                                     detached: true, hasConsole: consoleFD >= 0)
        let reply = try call(.ociExec(request), fds: stdio + [consoleFD >= 0 ? consoleFD : placeholder] + preserved.fds)
        guard case .created(let c) = reply else { throw OCIFailure("unexpected answer \(reply.verb.name) to oci_exec") }
        if let pidFile { try writeAtomically(pidFile, String(c.pid)) }
        if detach { return 0 }
        return ProcessInfo.waitForChild(c.pid)
    }

    // MARK: - spec

    func spec(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "spec", valued: ["bundle"], boolean: ["rootless"], aliases: ["b": "bundle"])
        let bundle = a.value("bundle") ?? "."
        let path = bundle + "/config.json"
        if Files.kind(path) != .missing { throw OCIFailure("File \(path) exists. Remove it first") }
        let text = OCISpec.defaultConfig(rootless: a.flag("rootless"), uid: getuid(), gid: getgid())
        try writeAtomically(path, text, mode: 0o666 & ~0o022)
        return 0
    }

    static func absolute(_ p: String) -> String {
        if p.hasPrefix("/") { return p }
        let cwd = (try? Files.currentDirectory()) ?? "/"
        return p == "." ? cwd : cwd + "/" + p
    }
}
