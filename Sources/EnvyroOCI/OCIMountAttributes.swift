// The mount options that are not mount(2) flags: the recursive attributes (rro, rnosuid, ...),
// applied with mount_setattr(AT_RECURSIVE) to the mount and every mount under it, and crun's
// extensions that change how a bind is made (dest-nofollow, src-nofollow, copy-symlink, idmap).

/// `mount_setattr(2)` attribute bits (`MOUNT_ATTR_*`), numeric so this module needs no C headers.
public enum MountAttributes {
    /// `MOUNT_ATTR_RDONLY`.
    public static let readOnly: UInt64 = 0x1
    /// `MOUNT_ATTR_NOSUID`.
    public static let noSuid: UInt64 = 0x2
    /// `MOUNT_ATTR_NODEV`.
    public static let noDev: UInt64 = 0x4
    /// `MOUNT_ATTR_NOEXEC`.
    public static let noExec: UInt64 = 0x8
    /// `MOUNT_ATTR__ATIME`: the atime field (an enum, not bits: changing it needs the whole
    /// field in `attr_clr`).
    public static let atimeField: UInt64 = 0x70
    /// `MOUNT_ATTR_RELATIME` (0: the field's default value).
    public static let relatime: UInt64 = 0
    /// `MOUNT_ATTR_NOATIME`.
    public static let noAtime: UInt64 = 0x10
    /// `MOUNT_ATTR_STRICTATIME`.
    public static let strictAtime: UInt64 = 0x20
    /// `MOUNT_ATTR_NODIRATIME`.
    public static let noDirAtime: UInt64 = 0x80
    /// `MOUNT_ATTR_IDMAP`.
    public static let idmap: UInt64 = 0x10_0000
    /// `MOUNT_ATTR_NOSYMFOLLOW`.
    public static let noSymFollow: UInt64 = 0x20_0000
}

/// What an OCI mount asks beyond mount(2): bits of `LoweredMount.extra` (and of the C
/// `envyro_mount.extra`, `ENVYRO_MOUNT_*` in cenvyro.h).
public enum MountExtra {
    /// `dest-nofollow`: a symlink at the destination is mounted on, not followed.
    public static let destNoFollow: UInt32 = 1
    /// `copy-symlink`: a bind source that is a symlink is recreated at the destination.
    public static let copySymlink: UInt32 = 2
    /// idmapped (`idmap`, or `uidMappings`/`gidMappings` given): the source tree is cloned
    /// and given the mapping with mount_setattr(MOUNT_ATTR_IDMAP).
    public static let idmap: UInt32 = 4
    /// `ridmap`: the mapping is set on every mount of the cloned tree (AT_RECURSIVE).
    public static let idmapRecursive: UInt32 = 8
    /// `src-nofollow`: a bind source that is a symlink is bound itself, not its target.
    public static let srcNoFollow: UInt32 = 16
}

extension OCIMountOptions {
    /// A recursive attribute option: bits it sets and bits it clears in mount_setattr.
    struct RecursiveOption {
        let name: String
        let set: UInt64
        let clear: UInt64
    }

    /// The recursive options, as runc 1.1 defines them ("ratime"/"rnostrictatime": the
    /// kernel's default, relatime; "rnorelatime": strictatime).
    static let recursiveTable: [RecursiveOption] = {
        typealias A = MountAttributes
        return [
            RecursiveOption(name: "rro", set: A.readOnly, clear: 0),
            RecursiveOption(name: "rrw", set: 0, clear: A.readOnly),
            RecursiveOption(name: "rnosuid", set: A.noSuid, clear: 0),
            RecursiveOption(name: "rsuid", set: 0, clear: A.noSuid),
            RecursiveOption(name: "rnodev", set: A.noDev, clear: 0),
            RecursiveOption(name: "rdev", set: 0, clear: A.noDev),
            RecursiveOption(name: "rnoexec", set: A.noExec, clear: 0),
            RecursiveOption(name: "rexec", set: 0, clear: A.noExec),
            RecursiveOption(name: "rnodiratime", set: A.noDirAtime, clear: 0),
            RecursiveOption(name: "rdiratime", set: 0, clear: A.noDirAtime),
            RecursiveOption(name: "rnoatime", set: A.noAtime, clear: A.atimeField),
            RecursiveOption(name: "ratime", set: A.relatime, clear: A.atimeField),
            RecursiveOption(name: "rrelatime", set: A.relatime, clear: A.atimeField),
            RecursiveOption(name: "rnorelatime", set: A.strictAtime, clear: A.atimeField),
            RecursiveOption(name: "rstrictatime", set: A.strictAtime, clear: A.atimeField),
            RecursiveOption(name: "rnostrictatime", set: A.relatime, clear: A.atimeField),
            RecursiveOption(name: "rnosymfollow", set: A.noSymFollow, clear: 0),
            RecursiveOption(name: "rsymfollow", set: 0, clear: A.noSymFollow),
        ]
    }()

    /// crun's options that change how a mount is made.
    static let extraTable: [(name: String, bit: UInt32)] = [
        ("dest-nofollow", MountExtra.destNoFollow),
        ("copy-symlink", MountExtra.copySymlink),
        ("idmap", MountExtra.idmap),
        ("ridmap", MountExtra.idmap | MountExtra.idmapRecursive),
        ("src-nofollow", MountExtra.srcNoFollow),
    ]

    /// Every recursive attribute option.
    public static var recursiveNames: [String] { recursiveTable.map(\.name) }

    /// Every extension option (dest-nofollow, copy-symlink, idmap, ridmap, src-nofollow).
    public static var extraNames: [String] { extraTable.map(\.name) }

    /// Folds one recursive option into (set, clear): a later option overrides an earlier one.
    static func apply(_ option: RecursiveOption, set: inout UInt64, clear: inout UInt64) {
        set = (set & ~option.clear) | option.set
        clear = (clear & ~option.set) | option.clear
        // The atime field's value travels in `set` together with the whole field in `clear`.
        if option.clear == MountAttributes.atimeField { clear |= MountAttributes.atimeField }
    }
}
