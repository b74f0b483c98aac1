// envyro-nshelper: the only Envyro process that may hold privileges.
//
// It serves one supervisor over the SOCK_SEQPACKET socket it inherits as fd 3, answers a closed
// set of verbs (EnvyroProtocol's VerbTable; handlers in EnvyroHelper's HelperVerbs.swift),
// re-validates every request against the policy it loads itself, writes one audit line per call
// before replying, and exits when the supervisor goes away, killing whatever it created. It does
// not import Foundation. This file is the thin main: arguments, privilege, policy, audit log;
// the logic is the EnvyroHelper library, unit-tested without root through its syscall seam.
import CEnvyro
import EnvyroAudit
import EnvyroCgroup
import EnvyroHelper
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Prints `message` to stderr and exits with `code`.
func die(_ message: String, code: Int32 = 2) -> Never {
    let line = "envyro-nshelper: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

/// Without a usable policy or audit log the helper can serve nothing: it answers the first
/// request with the reason (the supervisor shows it) and exits with `code`. Nothing is printed
/// here, so a supervisor that already reported the same problem is not echoed.
func refuseFirstRequest(_ socket: SeqPacketSocket, step: FailureStep, message: String, code: Int32) -> Never {
    if let packet = try? socket.receive(capacity: ProtocolLimits.defaultMaxFrameBytes + 1, maxFDs: 5) {
        for fd in packet.fds { close(fd) }
        let id = (try? FrameHeader.decode(packet.bytes))?.requestID ?? 0
        try? socket.send(Codec.encode(.failed(Failure(errno: EINVAL, step: step, message: message)), requestID: id))
    }
    exit(code)
}

/// `envyro setup --user NAME`: as root, delegate `envyro/u<uid>` in every cgroup hierarchy to
/// the user, so their runs can have limits. Exits.
func setupUser(_ who: String) -> Never {
    guard getuid() == 0 else {
        die("envyro setup must run as root (it hands a cgroup subtree to a user): sudo envyro setup --user \(who)", code: 77)
    }
    var pwd = passwd()
    var result: UnsafeMutablePointer<passwd>? = nil
    var buf = [CChar](repeating: 0, count: 4096)
    if let uid = UInt32(who) { getpwuid_r(uid, &pwd, &buf, buf.count, &result) } else { getpwnam_r(who, &pwd, &buf, buf.count, &result) }
    guard result != nil else { die("no such user: \(who)", code: 67) }
    let uid = pwd.pw_uid, gid = pwd.pw_gid
    do {
        let hierarchy = try CgroupHierarchy.detect()
        let paths = try CgroupDelegation.delegate(hierarchy: hierarchy, uid: uid, gid: gid)
        for p in paths { print("delegated \(p) to uid \(uid)") }
        let rootLog = AuditLog.defaultPath(uid: 0, allowEnvironment: false)
        if let key = try? AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: rootLog)),
           let audit = try? AuditLog(path: rootLog, key: key) {
            _ = try? audit.append(AuditRecord(verb: "setup", callerUID: 0, callerPID: getpid(), argumentDigest: Digest.sha256(Array(who.utf8)),
                                              decision: .allowed, result: "ok", durationMicros: 0, detail: "delegated cgroup subtree to uid \(uid)"))
        }
        exit(0)
    } catch {
        die("cannot delegate a cgroup subtree to \(who): \(error)", code: 1)
    }
}

@main
struct NSHelperMain {
    static func main() {
        // A helper holds a few descriptors per container (pidfd, pipes, pooled namespaces and
        // prewarmed members): no soft limit a login gave the supervisor should cap it.
        OpenFileLimit.raiseToHard()
        // Terminal signals are the supervisor's business: it forwards what the workload needs.
        signal(SIGINT, SIG_IGN)
        signal(SIGQUIT, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        // A file-size limit makes an audit write fail with EFBIG instead of killing the helper.
        signal(SIGXFSZ, SIG_IGN)

        var policyName = "default"
        var socketFD: Int32 = 3
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--policy":
                guard let v = args.popFirst() else { die("--policy needs a value") }
                policyName = v
            case "--setup-user":
                guard let v = args.popFirst() else { die("--setup-user needs a user name or uid") }
                setupUser(v)
            case "--bench", "--fuzz":
                // The drivers are not in this binary (issue 13, item 9): a helper that may hold
                // privileges runs no test code and writes no files of its choosing.
                die("\(arg) is not part of envyro-nshelper, which may run with privileges; use envyro-helper-bench \(arg) N (an unprivileged program that drives this helper over its socket)", code: 64)
            case "--fd":
                guard let v = args.popFirst(), let n = Int32(v), n >= 3 else { die("--fd needs a descriptor number >= 3") }
                socketFD = n
            default:
                die("unknown argument '\(arg)' (envyro-nshelper is started by envyro, not by hand)")
            }
        }

        // Privilege next (only the arguments were read), before any thread exists: keep only
        // CAP_SETUID and CAP_SETGID (for multi-range id maps; root also CAP_SETFCAP), nothing
        // inheritable or ambient, and become non-dumpable so the caller can't ptrace or read
        // this process. A helper with file capabilities, or run by root, is "privileged": it
        // then ignores its environment entirely.
        // Root of another user namespace (rootless podman runs its runtime in one) is not.
        let privilege = HelperPrivilege.current()
        let privileged = privilege != .none
        // Root's single-id map puts host uid 0 in the container, which the kernel allows only
        // with CAP_SETFCAP (verify_root_map); no other caller can map host root.
        let setidCaps: CapabilitySet = geteuid() == 0 ? [.setgid, .setuid, .setfcap] : [.setgid, .setuid]
        // Root keeps its set until the policy is read (below): a policy that lets root run
        // containers without a user namespace (runc's behaviour, the `oci` policy) needs more.
        if geteuid() != 0, envyro_keep_capabilities(setidCaps.rawValue) != 0 {
            die("cannot drop capabilities: \(SystemError.current("capset"))")
        }
        _ = envyro_prctl(4 /* PR_SET_DUMPABLE */, 0, 0)

        // The socket must be a SEQPACKET socket: refuse to run on anything else.
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(socketFD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != Int32(SOCK_SEQPACKET.rawValue) {
            die("fd \(socketFD) is not a SOCK_SEQPACKET socket (envyro-nshelper is started by envyro, not by hand)")
        }
        _ = fcntl(socketFD, F_SETFD, FD_CLOEXEC)

        let socket = SeqPacketSocket(fd: socketFD)
        let policy: Policy
        do {
            policy = try PolicyTrust.load(policyName, privilege: privilege)
        } catch {
            refuseFirstRequest(socket, step: .policy, message: "\(error)", code: 78)
        }

        var hierarchy: CgroupHierarchy? = nil
        if geteuid() == 0, UserNamespace.isInitial {
            // A fresh host has no `envyro` cgroup yet, and cgroup roots are mode 0555: making one
            // takes CAP_DAC_OVERRIDE, which root's helper gives up next. So `envyro/root` is made
            // now, in every hierarchy, while root still holds it (after the first run this finds
            // it made). Ordinary users get theirs from `sudo envyro setup --user NAME`.
            // The hierarchy found here is the cgroup manager's too: not detected twice.
            hierarchy = try? CgroupHierarchy.detect()
            if let h = hierarchy, !CgroupDelegation.subtreeExists(hierarchy: h, name: "root") {
                _ = try? CgroupDelegation.createSubtree(hierarchy: h, name: "root", uid: 0, gid: 0)
            }
        }

        if geteuid() == 0 {
            // A container without a user namespace is built with the host's root: creating
            // namespaces and mounts (SYS_ADMIN), device nodes (MKNOD), lo (NET_ADMIN), dropping
            // its bounding set (SETPCAP), rlimits and oom_score_adj (SYS_RESOURCE), ownership
            // and paths in the rootfs (CHOWN, DAC_OVERRIDE, FOWNER), a time namespace's offsets
            // (SYS_TIME: /proc/self/timens_offsets checks it), and the capabilities the
            // policy lets such a container keep. Otherwise root keeps only the id-map set, plus,
            // when the policy pools network namespaces (NetnsPool), what making and entering
            // them takes (SYS_ADMIN, NET_ADMIN). A root helper compromised would hold root's
            // files either way: the capability set is defence in depth, not the boundary.
            // A policy that trusts the host's root as runc does (`hostRoot`, the `oci` policy)
            // lets root's bundles keep every capability (--privileged): the helper keeps root's
            // whole set to hand them on. The caller is checked to be root too (SO_PEERCRED, below).
            let rootContainers = !policy.namespaces.contains(.user)
            let rootSet: CapabilitySet = [.sysAdmin, .mknod, .netAdmin, .setpcap, .sysResource, .chown, .dacOverride, .fowner, .sysTime]
            let poolSet: CapabilitySet = policy.pools.networkNamespaces > 0 && policy.namespaces.contains(.network) ? [.sysAdmin, .netAdmin] : []
            var kept = setidCaps.union(rootContainers ? rootSet.union(policy.capabilities.keepSet) : poolSet)
            if policy.hostRootTrusted && UserNamespace.isInitial { kept = kept.union(CapabilitySet.all) }
            if envyro_keep_capabilities(kept.rawValue) != 0 {
                die("cannot drop capabilities: \(SystemError.current("capset"))")
            }
        }

        let auditPath = policy.audit.path ?? AuditLog.defaultPath(uid: getuid(), allowEnvironment: !privileged)
        let audit: AuditLog
        do {
            try Files.makeDirectories(Files.directory(of: auditPath), mode: 0o700)
        } catch {
            refuseFirstRequest(socket, step: .audit, message: "cannot open the audit log: \(error)", code: 74)
        }
        // Every line is MACed with a key only this uid can read (made on first use, beside the
        // log): a process that can append to the log but can't read the key can't forge lines.
        let key: AuditKey
        do { key = try AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: auditPath)) } catch {
            refuseFirstRequest(socket, step: .audit, message: "\(error)", code: 74)
        }
        do {
            audit = try AuditLog(path: auditPath, maxBytes: policy.audit.maxBytes, keep: policy.audit.keep, sync: policy.audit.fsync, key: key)
        } catch {
            refuseFirstRequest(socket, step: .audit, message: "cannot open the audit log: \(error)", code: 74)
        }

        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        if envyro_peer_credentials(socketFD, &pid, &uid, &gid) != 0 {
            die("cannot read the caller's credentials: \(SystemError.current("getsockopt", "SO_PEERCRED"))")
        }
        // Serve only a caller with our own real uid.
        if uid != getuid() {
            die("caller uid \(uid) is not this helper's uid \(getuid())", code: 77)
        }

        // A host root caller of a policy that trusts it (`oci`) gets its bundles' own filters,
        // never the policy's (HelperServer.trustsCallerAsHostRoot, decided by the same kernel
        // credentials): its helper reads the policy's profile only if a request needs it (a
        // plain `create`), not on every OCI command's start. Anyone else's helper reads it now.
        let deferSeccomp = policy.hostRootTrusted && uid == 0 && UserNamespace.isHostRoot
        let seccomp: SeccompCache
        do { seccomp = try SeccompCache(policy: policy, privileged: privileged, deferred: deferSeccomp) } catch {
            refuseFirstRequest(socket, step: .policy, message: "policy \(policy.name): \(error)", code: 78)
        }

        let server = HelperServer(
            socket: socket, policy: policy, audit: audit,
            caller: Caller(uid: uid, gid: gid, pid: pid), seccomp: seccomp, cgroupHierarchy: hierarchy)
        exit(server.serve())
    }
}
