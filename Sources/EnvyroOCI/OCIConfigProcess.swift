// OCIConfig's process section: the first process, its console, user, capabilities and rlimits.

extension OCIConfig {
    /// `process`: the container's first process.
    public struct Process: Sendable, Equatable {
        /// Allocate a pseudo-terminal for the process.
        public var terminal: Bool
        /// The terminal's size, if given.
        public var consoleSize: ConsoleSize?
        /// Who the process runs as.
        public var user: User
        /// The program and its arguments; never empty.
        public var args: [String]
        /// `NAME=value` entries.
        public var env: [String]
        /// Absolute working directory inside the container.
        public var cwd: String
        /// Capability sets; nil means none given (all sets empty).
        public var capabilities: Capabilities?
        /// Resource limits, one per type.
        public var rlimits: [Rlimit]
        /// Set `PR_SET_NO_NEW_PRIVS`.
        public var noNewPrivileges: Bool
        /// `/proc/self/oom_score_adj`, -1000...1000.
        public var oomScoreAdj: Int?
        /// `process.ioPriority` (ioprio_set), if given.
        public var ioPriority: IOPriority?

        /// Creates a process.
        public init(terminal: Bool = false, consoleSize: ConsoleSize? = nil, user: User = User(),
                    args: [String], env: [String] = [], cwd: String = "/", capabilities: Capabilities? = nil,
                    rlimits: [Rlimit] = [], noNewPrivileges: Bool = false, oomScoreAdj: Int? = nil,
                    ioPriority: IOPriority? = nil) {
            self.terminal = terminal
            self.consoleSize = consoleSize
            self.user = user
            self.args = args
            self.env = env
            self.cwd = cwd
            self.capabilities = capabilities
            self.rlimits = rlimits
            self.noNewPrivileges = noNewPrivileges
            self.oomScoreAdj = oomScoreAdj
            self.ioPriority = ioPriority
        }
    }

    /// `process.consoleSize`.
    public struct ConsoleSize: Sendable, Equatable {
        /// Rows.
        public var height: UInt16
        /// Columns.
        public var width: UInt16

        /// Creates a size.
        public init(height: UInt16, width: UInt16) {
            self.height = height
            self.width = width
        }
    }

    /// `process.user`: numeric ids inside the container.
    public struct User: Sendable, Equatable {
        /// User id.
        public var uid: UInt32
        /// Primary group id.
        public var gid: UInt32
        /// The umask, if given (0...0o777).
        public var umask: UInt32?
        /// Supplementary group ids.
        public var additionalGids: [UInt32]

        /// Creates a user.
        public init(uid: UInt32 = 0, gid: UInt32 = 0, umask: UInt32? = nil, additionalGids: [UInt32] = []) {
            self.uid = uid
            self.gid = gid
            self.umask = umask
            self.additionalGids = additionalGids
        }
    }

    /// `process.capabilities`: `CAP_*` names per set, each checked against `OCICapabilities`.
    public struct Capabilities: Sendable, Equatable {
        /// The bounding set.
        public var bounding: [String]
        /// The effective set.
        public var effective: [String]
        /// The inheritable set.
        public var inheritable: [String]
        /// The permitted set.
        public var permitted: [String]
        /// The ambient set.
        public var ambient: [String]

        /// Creates capability sets.
        public init(bounding: [String] = [], effective: [String] = [], inheritable: [String] = [],
                    permitted: [String] = [], ambient: [String] = []) {
            self.bounding = bounding
            self.effective = effective
            self.inheritable = inheritable
            self.permitted = permitted
            self.ambient = ambient
        }

        /// The set names in the order the spec lists them.
        static let setNames = ["bounding", "effective", "inheritable", "permitted", "ambient"]
    }

    /// One entry of `process.rlimits`.
    public struct Rlimit: Sendable, Equatable {
        /// `RLIMIT_*` name.
        public var type: String
        /// Hard limit.
        public var hard: UInt64
        /// Soft limit, at most `hard`.
        public var soft: UInt64

        /// Creates a limit.
        public init(type: String, hard: UInt64, soft: UInt64) {
            self.type = type
            self.hard = hard
            self.soft = soft
        }

        /// The `setrlimit` resource number (`RLIMIT_NOFILE` is 7); -1 for an unknown name,
        /// which the reader never produces.
        public var resource: Int32 { OCIRlimits.resource(of: type) ?? -1 }
    }
}
