import EnvyroSystem
import Glibc

/// The cgroup controllers Envyro drives. `.io` and `.blkio` name the same resource (the v2 and
/// v1 spellings): either resolves to v1 `blkio` where that hierarchy is mounted, else to v2 `io`.
/// `.cpuacct` resolves on v2 to the core `cpu.stat` file and `.freezer` to the core
/// `cgroup.freeze` file, which every v2 cgroup has.
public enum CgroupController: String, Sendable, Hashable, CaseIterable, Comparable {
    case memory, pids, cpu, cpuacct, cpuset, blkio, io, freezer
    /// v1 only: device access rules (`devices.allow`, `devices.deny`); v2 has no files for it.
    case devices
    /// Huge page limits (`hugetlb.<size>.limit_in_bytes` on v1, `hugetlb.<size>.max` on v2).
    case hugetlb

    /// Orders by name, so sets print and iterate in a stable order.
    public static func < (a: CgroupController, b: CgroupController) -> Bool { a.rawValue < b.rawValue }

    /// The name a v1 mount uses in its options for this controller.
    public var v1Name: String { self == .io ? "blkio" : rawValue }
    /// The name v2's `cgroup.controllers` uses, or nil when v2 serves it from core files.
    public var v2Name: String? {
        switch self {
        case .blkio, .io: return "io"
        case .cpuacct, .freezer: return nil
        default: return rawValue
        }
    }
}

/// Which cgroup version serves a controller.
public enum CgroupVersion: String, Sendable, Equatable, Hashable {
    case v1, v2
}

/// One cgroup v1 hierarchy mount: its mount point and the controllers bound to it (co-mounted
/// controllers such as `cpu,cpuacct` share one mount).
public struct CgroupV1Mount: Sendable, Equatable {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    public var mountPoint: String
    /// Its root within the hierarchy (`/` unless a cgroup namespace or bind mount shows less).
    public var root: String
    /// Controller names from the mount's super options, e.g. `["cpu", "cpuacct"]`.
    public var controllers: [String]
    /// The filesystem's device as mountinfo shows it (`0:29`), checked against the opened
    /// mount; empty when unknown.
    public var device: String

    /// A v1 mount.
    public init(mountPoint: String, root: String = "/", controllers: [String], device: String = "") {
        self.mountPoint = mountPoint
        self.root = root
        self.controllers = controllers
        self.device = device
    }
}

/// Where a controller lives: the version and the mount to resolve paths beneath.
public struct CgroupPlacement: Sendable, Equatable, Hashable {
    /// v1 or v2.
    public var version: CgroupVersion
    /// The hierarchy's mount point.
    public var mountPoint: String
}

/// The cgroup hierarchies this host mounts, read from `/proc/self/mountinfo`.
///
/// On a hybrid host (v1 hierarchies plus a cgroup2 mount, usually at `/sys/fs/cgroup/unified`)
/// a controller bound to a v1 hierarchy is used there; a controller is used on v2 only when it is
/// not bound to v1 and is listed in the v2 root's `cgroup.controllers`.
public struct CgroupHierarchy: Sendable, Equatable {
    /// The cgroup2 mount point, if any.
    public var unifiedMount: String?
    /// Controllers listed in the cgroup2 root's `cgroup.controllers`.
    public var unifiedControllers: Set<String>
    /// The v1 hierarchies, in mountinfo order (the first mount of a hierarchy wins).
    public var v1Mounts: [CgroupV1Mount]
    /// The cgroup2 filesystem's device (`0:38`), empty when unknown.
    public var unifiedDevice: String

    /// Builds a hierarchy from its parts.
    public init(unifiedMount: String?, unifiedControllers: Set<String>, v1Mounts: [CgroupV1Mount], unifiedDevice: String = "") {
        self.unifiedMount = unifiedMount
        self.unifiedControllers = unifiedControllers
        self.v1Mounts = v1Mounts
        self.unifiedDevice = unifiedDevice
    }

    /// The device mountinfo gave for the mount at `mountPoint`, or "" when unknown.
    public func device(ofMount mountPoint: String) -> String {
        if mountPoint == unifiedMount { return unifiedDevice }
        return v1Mounts.first { $0.mountPoint == mountPoint }?.device ?? ""
    }

    /// Reads `/proc/self/mountinfo` and the cgroup2 root's `cgroup.controllers`.
    public static func detect() throws(CgroupError) -> CgroupHierarchy {
        let text: String
        do {
            text = String(decoding: try Files.read("/proc/self/mountinfo", limit: 4 << 20), as: UTF8.self)
        } catch {
            throw .system(error, advice: "can't read the mount table; is /proc mounted?")
        }
        var hierarchy = parse(mountinfo: text)
        if let unified = hierarchy.unifiedMount {
            let file = unified + "/cgroup.controllers"
            do {
                let bytes = try Files.read(file, limit: 4096)
                hierarchy.unifiedControllers = parseControllerList(String(decoding: bytes, as: UTF8.self))
            } catch {
                throw .system(error, advice: "can't read the cgroup2 root's controller list")
            }
        }
        return hierarchy
    }

    /// Parses mountinfo text (see proc(5)); `unifiedControllers` stays empty (the caller reads
    /// `cgroup.controllers`). Lines that aren't cgroup mounts are ignored; of several mounts of
    /// one hierarchy (bind mounts), the first one is kept.
    public static func parse(mountinfo: String, unifiedControllers: Set<String> = []) -> CgroupHierarchy {
        var unified: String?
        var unifiedDevice = ""
        var mounts: [CgroupV1Mount] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 1 < fields.count else { continue }
            let fsType = fields[dash + 1]
            let root = unescapeMountField(String(fields[3]))
            let mountPoint = unescapeMountField(String(fields[4]))
            let superOptions = dash + 3 < fields.count ? fields[dash + 3].split(separator: ",").map(String.init) : []
            if fsType == "cgroup2" {
                if unified == nil {
                    unified = mountPoint
                    unifiedDevice = String(fields[2])
                }
            } else if fsType == "cgroup" {
                let names = superOptions.filter { !$0.contains("=") && !nonControllerOptions.contains($0) }
                if names.isEmpty { continue }
                if mounts.contains(where: { Set($0.controllers) == Set(names) }) { continue }
                mounts.append(CgroupV1Mount(mountPoint: mountPoint, root: root, controllers: names, device: String(fields[2])))
            }
        }
        return CgroupHierarchy(unifiedMount: unified, unifiedControllers: unifiedControllers, v1Mounts: mounts, unifiedDevice: unifiedDevice)
    }

    /// Mount options of a v1 cgroup mount that are not controller names.
    static let nonControllerOptions: Set<String> = [
        "rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "favordynmods", "nsdelegate",
        "memory_localevents", "memory_recursiveprot", "memory_hugetlb_accounting", "pids_localevents",
    ]

    /// Parses a space-separated controller list such as `cgroup.controllers`.
    public static func parseControllerList(_ text: String) -> Set<String> {
        Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
    }

    /// Decodes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
    public static func unescapeMountField(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count {
                let digits = bytes[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    if value < 256 {
                        out.append(UInt8(value))
                        i += 4
                        continue
                    }
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The v1 mount a controller is bound to, if any.
    public func v1Mount(for controller: CgroupController) -> CgroupV1Mount? {
        v1Mounts.first { $0.controllers.contains(controller.v1Name) }
    }

    /// Where `controller` is served, or nil when neither version offers it.
    public func placement(of controller: CgroupController) -> CgroupPlacement? {
        if let mount = v1Mount(for: controller) {
            return CgroupPlacement(version: .v1, mountPoint: mount.mountPoint)
        }
        guard let unified = unifiedMount, controller != .devices else { return nil }
        if let name = controller.v2Name {
            return unifiedControllers.contains(name) ? CgroupPlacement(version: .v2, mountPoint: unified) : nil
        }
        // cpuacct and freezer are core files on v2; on a hybrid host whose v1 mounts lack them
        // they'd be served here, which is what the kernel offers.
        return CgroupPlacement(version: .v2, mountPoint: unified)
    }

    /// Which version serves `controller`, or nil.
    public func version(for controller: CgroupController) -> CgroupVersion? {
        placement(of: controller)?.version
    }

    /// True when no v1 hierarchy is mounted and cgroup2 is (a pure v2 host).
    public var isUnifiedOnly: Bool { v1Mounts.isEmpty && unifiedMount != nil }

    /// A one-line summary for diagnostics: `v1 memory=/sys/fs/cgroup/memory ...; v2 /sys/fs/cgroup/unified [hugetlb]`.
    public var summary: String {
        var parts: [String] = []
        for c in CgroupController.allCases {
            if let p = placement(of: c) { parts.append("\(c.rawValue)=\(p.version.rawValue):\(p.mountPoint)") }
        }
        if let u = unifiedMount { parts.append("unified=\(u) [\(unifiedControllers.sorted().joined(separator: " "))]") }
        return parts.joined(separator: " ")
    }
}
