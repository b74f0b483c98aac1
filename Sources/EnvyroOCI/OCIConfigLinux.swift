// OCIConfig's linux section: namespaces, id maps, devices, cgroup resources and security settings.

import EnvyroJSON

extension OCIConfig {
    /// `linux`: namespaces, id maps, devices, cgroups and the security settings.
    public struct Linux: Sendable, Equatable {
        /// Namespaces to create (no path) or join (path), each type at most once.
        public var namespaces: [Namespace]
        /// User id maps for the user namespace.
        public var uidMappings: [IDMapping]
        /// Group id maps for the user namespace.
        public var gidMappings: [IDMapping]
        /// Device nodes to create in the container's /dev.
        public var devices: [Device]
        /// The container's cgroup, absolute or relative to the runtime's cgroup root.
        public var cgroupsPath: String?
        /// cgroup limits.
        public var resources: Resources?
        /// Kernel parameters to set, in order.
        public var sysctl: [OCIKeyValue]
        /// The seccomp profile as written (OCI/moby schema); always an object.
        public var seccomp: JSONValue?
        /// Paths to hide (bind /dev/null or an empty read-only tmpfs over them).
        public var maskedPaths: [String]
        /// Paths to make read-only.
        public var readonlyPaths: [String]
        /// Propagation of the root mount: one of `OCIMountOptions.propagationNames`.
        public var rootfsPropagation: String?
        /// `linux.personality`, if given.
        public var personality: Personality?
        /// `linux.timeOffsets` by clock ("monotonic", "boottime"), for a new time namespace.
        public var timeOffsets: [TimeOffset]
        /// `linux.netDevices`: host interfaces moved into the container's network namespace.
        public var netDevices: [NetDevice]

        /// Creates a Linux section.
        public init(namespaces: [Namespace] = [], uidMappings: [IDMapping] = [], gidMappings: [IDMapping] = [],
                    devices: [Device] = [], cgroupsPath: String? = nil, resources: Resources? = nil,
                    sysctl: [OCIKeyValue] = [], seccomp: JSONValue? = nil, maskedPaths: [String] = [],
                    readonlyPaths: [String] = [], rootfsPropagation: String? = nil, personality: Personality? = nil,
                    timeOffsets: [TimeOffset] = [], netDevices: [NetDevice] = []) {
            self.namespaces = namespaces
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.devices = devices
            self.cgroupsPath = cgroupsPath
            self.resources = resources
            self.sysctl = sysctl
            self.seccomp = seccomp
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.rootfsPropagation = rootfsPropagation
            self.personality = personality
            self.timeOffsets = timeOffsets
            self.netDevices = netDevices
        }

        /// The namespace of `type`, if listed.
        public func namespace(_ type: NamespaceType) -> Namespace? {
            namespaces.first { $0.type == type }
        }

        /// The `CLONE_NEW*` flags of the namespaces to create (those without a path).
        public var cloneFlags: UInt32 {
            namespaces.reduce(0) { $1.path == nil ? $0 | $1.type.cloneFlag : $0 }
        }
    }

    /// One entry of `linux.namespaces`.
    public struct Namespace: Sendable, Equatable {
        /// Which namespace.
        public var type: NamespaceType
        /// An absolute path to join (e.g. `/proc/1234/ns/net`); nil to create a new one.
        public var path: String?

        /// Creates a namespace entry.
        public init(type: NamespaceType, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }

    /// One range of `linux.uidMappings` or `linux.gidMappings`.
    public struct IDMapping: Sendable, Equatable {
        /// First id inside the container.
        public var containerID: UInt32
        /// First id on the host.
        public var hostID: UInt32
        /// Number of ids; at least 1.
        public var size: UInt32

        /// Creates a range.
        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }

    /// One entry of `linux.devices`: a node to create.
    public struct Device: Sendable, Equatable {
        /// "c" (character), "b" (block), "u" (unbuffered character) or "p" (FIFO).
        public var type: String
        /// Absolute path inside the container.
        public var path: String
        /// Major number; required except for "p".
        public var major: Int64?
        /// Minor number; required except for "p".
        public var minor: Int64?
        /// Permission bits of the node.
        public var fileMode: UInt32?
        /// Owner inside the container.
        public var uid: UInt32?
        /// Group inside the container.
        public var gid: UInt32?

        /// Creates a device.
        public init(type: String, path: String, major: Int64? = nil, minor: Int64? = nil,
                    fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
            self.type = type
            self.path = path
            self.major = major
            self.minor = minor
            self.fileMode = fileMode
            self.uid = uid
            self.gid = gid
        }

        /// The `mknod` mode: the file type (`S_IFCHR` for "c" and "u", `S_IFBLK`, `S_IFIFO`)
        /// with the permission bits of `fileMode`, 0666 when not given (as runc does).
        public var mode: UInt32 {
            let kind: UInt32 = switch type {
            case "b": 0o060000
            case "p": 0o010000
            default: 0o020000
            }
            return kind | (fileMode ?? 0o666) & 0o7777
        }
    }

    /// `linux.resources`: cgroup limits.
    public struct Resources: Sendable, Equatable {
        /// The device cgroup rules, in order (later rules win).
        public var devices: [DeviceRule]
        /// Memory limits.
        public var memory: Memory?
        /// CPU shares, quota and placement.
        public var cpu: CPU?
        /// The process count limit.
        public var pids: Pids?
        /// Block I/O weights and throttles.
        public var blockIO: BlockIO?
        /// Huge page limits per page size.
        public var hugepageLimits: [HugepageLimit]
        /// cgroup v2 files to write, in order.
        public var unified: [OCIKeyValue]

        /// Creates resources.
        public init(devices: [DeviceRule] = [], memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil,
                    blockIO: BlockIO? = nil, hugepageLimits: [HugepageLimit] = [], unified: [OCIKeyValue] = []) {
            self.devices = devices
            self.memory = memory
            self.cpu = cpu
            self.pids = pids
            self.blockIO = blockIO
            self.hugepageLimits = hugepageLimits
            self.unified = unified
        }
    }

    /// One device cgroup rule.
    public struct DeviceRule: Sendable, Equatable {
        /// Allow (true) or deny (false).
        public var allow: Bool
        /// "a" (all), "c" or "b"; nil means all.
        public var type: String?
        /// Major number; nil means all.
        public var major: Int64?
        /// Minor number; nil means all.
        public var minor: Int64?
        /// Some of "r", "w", "m"; nil means "rwm".
        public var access: String?

        /// Creates a rule.
        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
            self.allow = allow
            self.type = type
            self.major = major
            self.minor = minor
            self.access = access
        }
    }

    /// `linux.resources.memory`, in bytes (-1 means unlimited).
    public struct Memory: Sendable, Equatable {
        /// Hard limit.
        public var limit: Int64?
        /// Soft limit.
        public var reservation: Int64?
        /// Memory plus swap limit.
        public var swap: Int64?
        /// Kernel memory limit (deprecated in the spec).
        public var kernel: Int64?
        /// Kernel TCP buffer limit (deprecated in the spec).
        public var kernelTCP: Int64?
        /// Swappiness, 0...100.
        public var swappiness: UInt64?
        /// Disable the OOM killer (cgroup v1).
        public var disableOOMKiller: Bool?
        /// Hierarchical accounting (cgroup v1).
        public var useHierarchy: Bool?
        /// Check usage before lowering the limit on update.
        public var checkBeforeUpdate: Bool?

        /// Creates memory limits.
        public init(limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil,
                    kernelTCP: Int64? = nil, swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil,
                    useHierarchy: Bool? = nil, checkBeforeUpdate: Bool? = nil) {
            self.limit = limit
            self.reservation = reservation
            self.swap = swap
            self.kernel = kernel
            self.kernelTCP = kernelTCP
            self.swappiness = swappiness
            self.disableOOMKiller = disableOOMKiller
            self.useHierarchy = useHierarchy
            self.checkBeforeUpdate = checkBeforeUpdate
        }
    }

    /// `linux.resources.cpu`.
    public struct CPU: Sendable, Equatable {
        /// Relative weight (cgroup v1 shares).
        public var shares: UInt64?
        /// Microseconds per period; -1 for unlimited.
        public var quota: Int64?
        /// Burst microseconds.
        public var burst: UInt64?
        /// Period in microseconds.
        public var period: UInt64?
        /// Real-time runtime in microseconds.
        public var realtimeRuntime: Int64?
        /// Real-time period in microseconds.
        public var realtimePeriod: UInt64?
        /// cpuset CPUs, e.g. "0-3,6".
        public var cpus: String?
        /// cpuset memory nodes.
        public var mems: String?
        /// cgroup v2 `cpu.idle`.
        public var idle: Int64?

        /// Creates CPU settings.
        public init(shares: UInt64? = nil, quota: Int64? = nil, burst: UInt64? = nil, period: UInt64? = nil,
                    realtimeRuntime: Int64? = nil, realtimePeriod: UInt64? = nil, cpus: String? = nil,
                    mems: String? = nil, idle: Int64? = nil) {
            self.shares = shares
            self.quota = quota
            self.burst = burst
            self.period = period
            self.realtimeRuntime = realtimeRuntime
            self.realtimePeriod = realtimePeriod
            self.cpus = cpus
            self.mems = mems
            self.idle = idle
        }
    }

    /// `linux.resources.pids`.
    public struct Pids: Sendable, Equatable {
        /// Maximum number of tasks; 0 or -1 for unlimited.
        public var limit: Int64

        /// Creates a pids limit.
        public init(limit: Int64) { self.limit = limit }
    }

    /// `linux.resources.blockIO`.
    public struct BlockIO: Sendable, Equatable {
        /// Default weight, 10...1000.
        public var weight: UInt16?
        /// Default leaf weight, 10...1000.
        public var leafWeight: UInt16?
        /// Per-device weights.
        public var weightDevice: [WeightDevice]
        /// Read bytes per second per device.
        public var throttleReadBpsDevice: [ThrottleDevice]
        /// Write bytes per second per device.
        public var throttleWriteBpsDevice: [ThrottleDevice]
        /// Read operations per second per device.
        public var throttleReadIOPSDevice: [ThrottleDevice]
        /// Write operations per second per device.
        public var throttleWriteIOPSDevice: [ThrottleDevice]

        /// Creates block I/O settings.
        public init(weight: UInt16? = nil, leafWeight: UInt16? = nil, weightDevice: [WeightDevice] = [],
                    throttleReadBpsDevice: [ThrottleDevice] = [], throttleWriteBpsDevice: [ThrottleDevice] = [],
                    throttleReadIOPSDevice: [ThrottleDevice] = [], throttleWriteIOPSDevice: [ThrottleDevice] = []) {
            self.weight = weight
            self.leafWeight = leafWeight
            self.weightDevice = weightDevice
            self.throttleReadBpsDevice = throttleReadBpsDevice
            self.throttleWriteBpsDevice = throttleWriteBpsDevice
            self.throttleReadIOPSDevice = throttleReadIOPSDevice
            self.throttleWriteIOPSDevice = throttleWriteIOPSDevice
        }
    }

    /// One entry of `blockIO.weightDevice`.
    public struct WeightDevice: Sendable, Equatable {
        /// Device major number.
        public var major: Int64
        /// Device minor number.
        public var minor: Int64
        /// Weight, 10...1000.
        public var weight: UInt16?
        /// Leaf weight, 10...1000.
        public var leafWeight: UInt16?

        /// Creates a device weight.
        public init(major: Int64, minor: Int64, weight: UInt16? = nil, leafWeight: UInt16? = nil) {
            self.major = major
            self.minor = minor
            self.weight = weight
            self.leafWeight = leafWeight
        }
    }

    /// One entry of a `blockIO.throttle*Device` list.
    public struct ThrottleDevice: Sendable, Equatable {
        /// Device major number.
        public var major: Int64
        /// Device minor number.
        public var minor: Int64
        /// Bytes or operations per second.
        public var rate: UInt64

        /// Creates a throttle.
        public init(major: Int64, minor: Int64, rate: UInt64) {
            self.major = major
            self.minor = minor
            self.rate = rate
        }
    }

    /// One entry of `linux.resources.hugepageLimits`.
    public struct HugepageLimit: Sendable, Equatable {
        /// Page size, e.g. "2MB" or "1GB".
        public var pageSize: String
        /// Limit in bytes.
        public var limit: UInt64

        /// Creates a limit.
        public init(pageSize: String, limit: UInt64) {
            self.pageSize = pageSize
            self.limit = limit
        }
    }
}
