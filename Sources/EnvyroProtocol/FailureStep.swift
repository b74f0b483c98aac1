/// The step a helper request failed at, as `Failure` carries it: a number on the wire (u16),
/// matched by the supervisor as a case, never as text.
///
/// Values 1-123 are the container trampoline's own (`enum envyro_step` in cenvyro.h, reported
/// through the child's error pipe) with the same numbers, so a child's report converts with
/// `FailureStep(childStep:)`; a test checks every name against `envyro_step_name`. Values from
/// 0x200 are the helper's own steps (checks, cgroups, the handshake, the audit log).
public enum FailureStep: UInt16, Sendable, CaseIterable {
    // The child's steps (cenvyro.h `enum envyro_step`).
    /// A step the child reported that this build does not know (`envyro_step_name`'s default).
    case setup = 0
    case waitForIDMaps = 1
    case setID = 2
    case hostname = 3
    case mountPrivate = 4
    case rootTmpfs = 5
    case rootfsBind = 6
    case hostBind = 7
    case readOnly = 8
    case tmp = 9
    case proc = 10
    case dev = 11
    case loopback = 12
    case pivotRoot = 13
    case cwd = 14
    case stdio = 15
    case signals = 16
    case noNewPrivileges = 17
    case startInit = 18
    case exec = 19
    case parentDeathSignal = 20
    case mask = 21
    case capabilities = 22
    case seccompInstall = 23
    case receiveRun = 102
    case joinCgroup = 103
    case unshare = 104
    case joinNamespace = 110
    case ociMount = 111
    case device = 112
    case sysctl = 113
    case rlimit = 114
    case user = 115
    case console = 116
    case waitForStart = 117
    case propagation = 118
    case domainname = 119
    case session = 120
    case personality = 121
    case ioPriority = 122
    case timeNamespace = 123

    // The helper's own steps.
    /// The request breaks the helper's policy (or no policy could be loaded).
    case policy = 0x200
    /// The id maps: refused by the policy, or writing them failed.
    case idMap = 0x201
    /// The policy's seccomp profile could not be compiled.
    case seccomp = 0x202
    /// Creating, opening, limiting, updating or removing a cgroup.
    case cgroup = 0x203
    /// Opening a namespace path an OCI bundle joins.
    case openNamespace = 0x204
    /// clone3 itself.
    case clone = 0x205
    /// A held OCI container's first process ended before it was ready.
    case prepare = 0x206
    /// The child ended before the id-map handshake.
    case handshake = 0x207
    /// Writing the child's oom_score_adj.
    case oomScore = 0x208
    /// Sending a signal (or the container named is not this connection's).
    case signal = 0x209
    /// Handing a prewarmed container its run.
    case go = 0x20A
    /// The audit log could not be opened or written (fail-closed policies).
    case audit = 0x20B
    /// The process a request names is not the caller's container.
    case target = 0x20C
    /// The process a request names is gone.
    case find = 0x20D
    /// Freezing or thawing a cgroup.
    case freezer = 0x20E
    /// The rootfs a request names is missing or unusable.
    case rootfs = 0x20F
    /// Moving a linux.netDevices interface into the container.
    case netDevice = 0x210

    /// The child step `step` (a value of `enum envyro_step`); `.setup` for one this build does
    /// not know (and for the non-failure records READY and PREPARED).
    public init(childStep step: Int32) {
        self = (step > 0 && step < 0x200 ? UInt16(exactly: step).flatMap(FailureStep.init(rawValue:)) : nil) ?? .setup
    }

    /// A short name for messages ("mount /proc", "exec", "id map"). The child's steps have
    /// `envyro_step_name`'s words.
    public var name: String {
        switch self {
        case .setup: "setup"
        case .waitForIDMaps: "wait for id maps"
        case .setID: "become root of the user namespace"
        case .hostname: "set hostname"
        case .mountPrivate: "make mounts private"
        case .rootTmpfs: "mount the root tmpfs"
        case .rootfsBind: "bind the rootfs"
        case .hostBind: "bind a host directory"
        case .readOnly: "remount read-only"
        case .tmp: "mount /tmp"
        case .proc: "mount /proc"
        case .dev: "populate /dev"
        case .loopback: "bring up lo"
        case .pivotRoot: "pivot_root"
        case .cwd: "chdir to the working directory"
        case .stdio: "set up stdio"
        case .signals: "reset signals"
        case .noNewPrivileges: "set no_new_privs"
        case .startInit: "start init"
        case .exec: "exec"
        case .parentDeathSignal: "set parent-death signal"
        case .mask: "mask or protect a path"
        case .capabilities: "drop capabilities"
        case .seccompInstall: "install the seccomp filter"
        case .receiveRun: "receive the run"
        case .joinCgroup: "join the container's cgroup"
        case .unshare: "create the network namespace"
        case .joinNamespace: "join a namespace"
        case .ociMount: "mount"
        case .device: "create a device node"
        case .sysctl: "write a sysctl"
        case .rlimit: "set an rlimit"
        case .user: "set the user"
        case .console: "set up the console"
        case .waitForStart: "wait for start"
        case .propagation: "set the rootfs propagation"
        case .domainname: "set domainname"
        case .session: "start a new session"
        case .personality: "set the personality"
        case .ioPriority: "set the I/O priority"
        case .timeNamespace: "create the time namespace"
        case .policy: "policy"
        case .idMap: "id map"
        case .seccomp: "seccomp"
        case .cgroup: "cgroup"
        case .openNamespace: "join namespace"
        case .clone: "clone"
        case .prepare: "prepare"
        case .handshake: "sync"
        case .oomScore: "oom score"
        case .signal: "signal"
        case .go: "go"
        case .audit: "audit"
        case .target: "target"
        case .find: "find"
        case .freezer: "freezer"
        case .rootfs: "rootfs"
        case .netDevice: "move a network device"
        }
    }
}

extension FailureStep: CustomStringConvertible {
    /// The step's name.
    public var description: String { name }
}
