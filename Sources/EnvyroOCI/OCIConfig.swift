// OCIConfig, a bundle's config.json: the top-level fields, root, mounts and hooks; the process section is in OCIConfigProcess.swift, the linux section in OCIConfigLinux.swift.

import EnvyroJSON

/// A bundle's `config.json` (OCI runtime-spec 1.0.2 / 1.1, Linux), read strictly: every key
/// is either honoured (modelled here) or refused by name, never silently ignored.
public struct OCIConfig: Sendable, Equatable {
    /// The spec version the bundle was written for; starts with "1.".
    public var ociVersion: String
    /// The container's root file system.
    public var root: Root
    /// The container's hostname (needs a uts namespace).
    public var hostname: String?
    /// The container's NIS domain name (needs a uts namespace).
    public var domainname: String?
    /// Free-form metadata, in document order.
    public var annotations: [OCIKeyValue]
    /// Mounts to make, in order, after the root file system.
    public var mounts: [Mount]
    /// The container's first process; required by `start`, optional for `create`.
    public var process: Process?
    /// Programs to run at points of the container's life.
    public var hooks: Hooks?
    /// The Linux-specific part.
    public var linux: Linux?

    /// Creates a config.
    public init(ociVersion: String, root: Root, hostname: String? = nil, domainname: String? = nil,
                annotations: [OCIKeyValue] = [], mounts: [Mount] = [], process: Process? = nil,
                hooks: Hooks? = nil, linux: Linux? = nil) {
        self.ociVersion = ociVersion
        self.root = root
        self.hostname = hostname
        self.domainname = domainname
        self.annotations = annotations
        self.mounts = mounts
        self.process = process
        self.hooks = hooks
        self.linux = linux
    }

    /// `root`: where the container's root file system is.
    public struct Root: Sendable, Equatable {
        /// Absolute, or relative to the bundle directory.
        public var path: String
        /// Mount the root file system read-only.
        public var readonly: Bool

        /// Creates a root.
        public init(path: String, readonly: Bool = false) {
            self.path = path
            self.readonly = readonly
        }
    }

    /// One entry of `mounts`.
    public struct Mount: Sendable, Equatable {
        /// Absolute path inside the container, without ".." components.
        public var destination: String
        /// File system type ("proc", "tmpfs", "bind", ...), if given.
        public var type: String?
        /// Device, file system name or bind source, if given.
        public var source: String?
        /// fstab-style options: flags, propagation, and file-system data.
        public var options: [String]
        /// An idmapped mount's uid ranges (`containerID` on disk shows as `hostID`), or empty.
        public var uidMappings: [IDMapping]
        /// An idmapped mount's gid ranges, or empty.
        public var gidMappings: [IDMapping]

        /// Creates a mount.
        public init(destination: String, type: String? = nil, source: String? = nil, options: [String] = [],
                    uidMappings: [IDMapping] = [], gidMappings: [IDMapping] = []) {
            self.destination = destination
            self.type = type
            self.source = source
            self.options = options
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
        }
    }

    /// `hooks`: one list per `HookKind`.
    public struct Hooks: Sendable, Equatable {
        /// Hooks per kind; kinds without hooks are absent.
        public var byKind: [HookKind: [Hook]]

        /// Creates hook lists.
        public init(_ byKind: [HookKind: [Hook]] = [:]) {
            self.byKind = byKind.filter { !$0.value.isEmpty }
        }

        /// The hooks of one kind, in order; `[]` if none.
        public subscript(kind: HookKind) -> [Hook] {
            get { byKind[kind] ?? [] }
            set { byKind[kind] = newValue.isEmpty ? nil : newValue }
        }
    }

    /// One hook: a program run with the state document on stdin.
    public struct Hook: Sendable, Equatable {
        /// Absolute path of the program, in the runtime's mount namespace.
        public var path: String
        /// Its argv, including argv[0].
        public var args: [String]
        /// Its environment, `NAME=value`.
        public var env: [String]
        /// Seconds before the hook is killed; nil for no limit.
        public var timeout: Int?

        /// Creates a hook.
        public init(path: String, args: [String] = [], env: [String] = [], timeout: Int? = nil) {
            self.path = path
            self.args = args
            self.env = env
            self.timeout = timeout
        }
    }
}
