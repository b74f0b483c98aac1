/// `mount(2)` flag values (`MS_*`), numeric so this module needs no C headers.
public enum MountFlags {
    /// `MS_RDONLY`.
    public static let readOnly: UInt = 1
    /// `MS_NOSUID`.
    public static let noSuid: UInt = 2
    /// `MS_NODEV`.
    public static let noDev: UInt = 4
    /// `MS_NOEXEC`.
    public static let noExec: UInt = 8
    /// `MS_SYNCHRONOUS`.
    public static let synchronous: UInt = 16
    /// `MS_REMOUNT`.
    public static let remount: UInt = 32
    /// `MS_MANDLOCK`.
    public static let mandatoryLocking: UInt = 64
    /// `MS_DIRSYNC`.
    public static let dirSync: UInt = 128
    /// `MS_NOSYMFOLLOW` (Linux 5.10).
    public static let noSymFollow: UInt = 256
    /// `MS_NOATIME`.
    public static let noAtime: UInt = 1024
    /// `MS_NODIRATIME`.
    public static let noDirAtime: UInt = 2048
    /// `MS_BIND`.
    public static let bind: UInt = 4096
    /// `MS_REC`.
    public static let recursive: UInt = 0x4000
    /// `MS_SILENT`.
    public static let silent: UInt = 0x8000
    /// `MS_UNBINDABLE`.
    public static let unbindable: UInt = 1 << 17
    /// `MS_PRIVATE`.
    public static let `private`: UInt = 1 << 18
    /// `MS_SLAVE`.
    public static let slave: UInt = 1 << 19
    /// `MS_SHARED`.
    public static let shared: UInt = 1 << 20
    /// `MS_RELATIME`.
    public static let relatime: UInt = 1 << 21
    /// `MS_I_VERSION`.
    public static let iVersion: UInt = 1 << 23
    /// `MS_STRICTATIME`.
    public static let strictAtime: UInt = 1 << 24
    /// `MS_LAZYTIME`.
    public static let lazyTime: UInt = 1 << 25
}

/// The mount options envyro understands, after runc's table: each flag option sets or
/// clears one `MS_*` bit, each propagation option names one propagation type, some options
/// are refused by name, and every other option is file-system data ("mode=755").
public enum OCIMountOptions {
    /// A flag option: `clear` means the option removes `flag` (e.g. "rw" clears MS_RDONLY).
    struct FlagOption {
        let name: String
        let clear: Bool
        let flag: UInt
    }

    static let flagTable: [FlagOption] = [
        FlagOption(name: "defaults", clear: false, flag: 0),
        FlagOption(name: "ro", clear: false, flag: MountFlags.readOnly),
        FlagOption(name: "rw", clear: true, flag: MountFlags.readOnly),
        FlagOption(name: "nosuid", clear: false, flag: MountFlags.noSuid),
        FlagOption(name: "suid", clear: true, flag: MountFlags.noSuid),
        FlagOption(name: "nodev", clear: false, flag: MountFlags.noDev),
        FlagOption(name: "dev", clear: true, flag: MountFlags.noDev),
        FlagOption(name: "noexec", clear: false, flag: MountFlags.noExec),
        FlagOption(name: "exec", clear: true, flag: MountFlags.noExec),
        FlagOption(name: "sync", clear: false, flag: MountFlags.synchronous),
        FlagOption(name: "async", clear: true, flag: MountFlags.synchronous),
        FlagOption(name: "dirsync", clear: false, flag: MountFlags.dirSync),
        FlagOption(name: "remount", clear: false, flag: MountFlags.remount),
        FlagOption(name: "mand", clear: false, flag: MountFlags.mandatoryLocking),
        FlagOption(name: "nomand", clear: true, flag: MountFlags.mandatoryLocking),
        FlagOption(name: "noatime", clear: false, flag: MountFlags.noAtime),
        FlagOption(name: "atime", clear: true, flag: MountFlags.noAtime),
        FlagOption(name: "nodiratime", clear: false, flag: MountFlags.noDirAtime),
        FlagOption(name: "diratime", clear: true, flag: MountFlags.noDirAtime),
        FlagOption(name: "relatime", clear: false, flag: MountFlags.relatime),
        FlagOption(name: "norelatime", clear: true, flag: MountFlags.relatime),
        FlagOption(name: "strictatime", clear: false, flag: MountFlags.strictAtime),
        FlagOption(name: "nostrictatime", clear: true, flag: MountFlags.strictAtime),
        FlagOption(name: "nosymfollow", clear: false, flag: MountFlags.noSymFollow),
        FlagOption(name: "symfollow", clear: true, flag: MountFlags.noSymFollow),
        FlagOption(name: "silent", clear: false, flag: MountFlags.silent),
        FlagOption(name: "loud", clear: true, flag: MountFlags.silent),
        FlagOption(name: "iversion", clear: false, flag: MountFlags.iVersion),
        FlagOption(name: "noiversion", clear: true, flag: MountFlags.iVersion),
        FlagOption(name: "lazytime", clear: false, flag: MountFlags.lazyTime),
        FlagOption(name: "nolazytime", clear: true, flag: MountFlags.lazyTime),
        FlagOption(name: "bind", clear: false, flag: MountFlags.bind),
        FlagOption(name: "rbind", clear: false, flag: MountFlags.bind | MountFlags.recursive),
    ]

    static let propagationTable: [(name: String, flags: UInt)] = [
        ("private", MountFlags.private),
        ("rprivate", MountFlags.private | MountFlags.recursive),
        ("slave", MountFlags.slave),
        ("rslave", MountFlags.slave | MountFlags.recursive),
        ("shared", MountFlags.shared),
        ("rshared", MountFlags.shared | MountFlags.recursive),
        ("unbindable", MountFlags.unbindable),
        ("runbindable", MountFlags.unbindable | MountFlags.recursive),
    ]

    /// Options runc or crun understand that envyro refuses, with the reason.
    static let refusedTable: [(name: String, reason: String)] = [
        ("tmpcopyup", "copying image content into a tmpfs is not supported by envyro"),
    ]

    /// Every option that lowers to flags, in table order.
    public static var flagNames: [String] { flagTable.map(\.name) }

    /// Every propagation option; also the values of `linux.rootfsPropagation`.
    public static var propagationNames: [String] { propagationTable.map(\.name) }

    /// The options envyro recognises (flags, propagation, recursive attributes and crun's
    /// extensions), as `features` lists them. Any other option that isn't refused is passed to
    /// the file system as data.
    public static var recognized: [String] { flagNames + propagationNames + recursiveNames + extraNames }

    /// Options refused by name.
    public static var refusedNames: [String] { refusedTable.map(\.name) }

    /// The `MS_*` propagation flags for a propagation name, with `MS_REC` for the r-forms.
    public static func propagation(_ name: String) -> UInt? {
        propagationTable.first { $0.name == name }?.flags
    }
}

/// A mount lowered to the arguments of `mount(2)`, plus the propagation change to make
/// after it.
public struct LoweredMount: Sendable, Equatable {
    /// `source` argument; nil when the mount has none.
    public var source: String?
    /// Absolute path inside the container.
    public var destination: String
    /// `filesystemtype` argument; nil for bind mounts (the kernel ignores it with MS_BIND,
    /// and the trampoline's `envyro_mount` expects NULL there).
    public var fstype: String?
    /// `mountflags`: the `MS_*` bits from flag options, including `MS_BIND`/`MS_REC`.
    public var flags: UInt
    /// A second `mount(2)` call's flags, `MS_PRIVATE` and so on (with `MS_REC`); 0 for none.
    public var propagation: UInt
    /// `data` argument: the other options, comma-joined ("mode=755,size=65536k").
    public var data: String
    /// True for bind mounts (type "bind", or a "bind"/"rbind" option).
    public var isBind: Bool
    /// `MOUNT_ATTR_*` bits to set on the mount and every mount under it (mount_setattr with
    /// AT_RECURSIVE), from the recursive options ("rro", "rnosuid", ...).
    public var attrSet: UInt64
    /// `MOUNT_ATTR_*` bits to clear the same way ("rrw", "rsuid", ...; the whole atime field
    /// for an atime option).
    public var attrClear: UInt64
    /// `MountExtra` bits: dest-nofollow, copy-symlink, idmap, ridmap.
    public var extra: UInt32

    /// Creates a lowered mount.
    public init(source: String?, destination: String, fstype: String?, flags: UInt, propagation: UInt,
                data: String, isBind: Bool, attrSet: UInt64 = 0, attrClear: UInt64 = 0, extra: UInt32 = 0) {
        self.source = source
        self.destination = destination
        self.fstype = fstype
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.isBind = isBind
        self.attrSet = attrSet
        self.attrClear = attrClear
        self.extra = extra
    }
}

extension OCIConfig.Mount {
    /// Lowers the options to `mount(2)` arguments, as runc does.
    /// - Parameter index: the mount's position in `mounts`, for the error path
    ///   (`mounts[3].options`); nil names it `mounts`.
    /// - Throws: `OCIError` for a relative destination or one with "..", a refused option,
    ///   or two different propagation options.
    public func lowered(index: Int? = nil) throws(OCIError) -> LoweredMount {
        let base = index.map { "mounts[\($0)]" } ?? "mounts"
        guard destination.hasPrefix("/") else {
            throw OCIError(path: "\(base).destination", reason: "must be an absolute path, not '\(destination)'")
        }
        guard !destination.split(separator: "/").contains("..") else {
            throw OCIError(path: "\(base).destination", reason: "'\(destination)' must not contain '..'")
        }
        var flags: UInt = 0
        var propagation: UInt = 0
        var propagationName: String?
        var data: [String] = []
        var attrSet: UInt64 = 0, attrClear: UInt64 = 0
        var extra: UInt32 = uidMappings.isEmpty ? 0 : MountExtra.idmap
        for (i, option) in options.enumerated() {
            if let f = OCIMountOptions.flagTable.first(where: { $0.name == option }) {
                if f.clear { flags &= ~f.flag } else { flags |= f.flag }
            } else if let p = OCIMountOptions.propagation(option) {
                if let propagationName, propagationName != option {
                    throw OCIError(path: "\(base).options[\(i)]",
                                   reason: "'\(option)' conflicts with '\(propagationName)': one propagation option per mount")
                }
                propagationName = option
                propagation = p
            } else if let r = OCIMountOptions.recursiveTable.first(where: { $0.name == option }) {
                OCIMountOptions.apply(r, set: &attrSet, clear: &attrClear)
            } else if let e = OCIMountOptions.extraTable.first(where: { $0.name == option }) {
                extra |= e.bit
            } else if let refused = OCIMountOptions.refusedTable.first(where: { $0.name == option }) {
                throw OCIError(path: "\(base).options[\(i)]", reason: "'\(option)': \(refused.reason)")
            } else if option.isEmpty {
                throw OCIError(path: "\(base).options[\(i)]", reason: "empty option")
            } else {
                data.append(option)
            }
        }
        let isBind = type == "bind" || flags & MountFlags.bind != 0
        if type == "bind" { flags |= MountFlags.bind }
        if !isBind, extra & (MountExtra.idmap | MountExtra.copySymlink | MountExtra.srcNoFollow) != 0 {
            let what = extra & MountExtra.idmap != 0 ? "an idmapped mount" : extra & MountExtra.copySymlink != 0 ? "copy-symlink" : "src-nofollow"
            throw OCIError(path: "\(base).options", reason: "\(what) needs a bind mount (type \"bind\" or option \"bind\"/\"rbind\")")
        }
        return LoweredMount(source: source, destination: destination, fstype: isBind ? nil : type, flags: flags,
                            propagation: propagation, data: data.joined(separator: ","), isBind: isBind,
                            attrSet: attrSet, attrClear: attrClear, extra: extra)
    }
}

extension OCIConfig.Linux {
    /// The `MS_*` propagation flags for `rootfsPropagation`, or nil when it is not set.
    /// - Throws: `OCIError` at `linux.rootfsPropagation` for an unknown name.
    public func rootfsPropagationFlags() throws(OCIError) -> UInt? {
        guard let name = rootfsPropagation else { return nil }
        guard let flags = OCIMountOptions.propagation(name) else {
            throw OCIError(path: "linux.rootfsPropagation",
                           reason: "'\(name)' is not one of: \(OCIMountOptions.propagationNames.joined(separator: ", "))")
        }
        return flags
    }
}
