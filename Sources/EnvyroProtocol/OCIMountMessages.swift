// WireMount: one OCI mount as the oci_create verb carries it (OCIMessages.swift has the verb),
// with the recursive attributes, crun's extensions and an idmapped mount's ranges (issue 17).

/// One mount, lowered from config.json: mount(2) flags and data already worked out.
public struct WireMount: Sendable, Equatable {
    /// Host path (bind) or the filesystem's source name; may be empty.
    public var source: String
    /// Absolute path inside the container.
    public var destination: String
    /// Filesystem type; empty for a bind mount.
    public var fstype: String
    /// MS_* flags.
    public var flags: UInt64
    /// MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE (| MS_REC), or 0.
    public var propagation: UInt64
    /// Filesystem options for mount(2)'s data argument.
    public var data: String
    /// MOUNT_ATTR_* to set and to clear recursively with mount_setattr (the "r" options).
    public var attrSet: UInt64, attrClear: UInt64
    /// ENVYRO_MOUNT_* bits: dest-nofollow, copy-symlink, idmap, ridmap, src-nofollow.
    public var extra: UInt32
    /// An idmapped mount's ranges (on-disk id `containerID` shows as `hostID`); empty otherwise.
    public var uidMappings: [IDMapping], gidMappings: [IDMapping]

    /// Memberwise initialiser.
    public init(source: String, destination: String, fstype: String, flags: UInt64, propagation: UInt64, data: String,
                attrSet: UInt64 = 0, attrClear: UInt64 = 0, extra: UInt32 = 0,
                uidMappings: [IDMapping] = [], gidMappings: [IDMapping] = []) {
        self.source = source
        self.destination = destination
        self.fstype = fstype
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.attrSet = attrSet
        self.attrClear = attrClear
        self.extra = extra
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
    }

    func encode(into w: inout WireWriter) {
        w.string(source); w.string(destination); w.string(fstype); w.u64(flags); w.u64(propagation); w.string(data)
        w.u64(attrSet); w.u64(attrClear); w.u32(extra)
        w.u32(UInt32(truncatingIfNeeded: uidMappings.count))
        for m in uidMappings { m.encode(into: &w) }
        w.u32(UInt32(truncatingIfNeeded: gidMappings.count))
        for m in gidMappings { m.encode(into: &w) }
    }

    /// MOUNT_ATTR_* the recursive options may set or clear: ro, nosuid, nodev, noexec, the atime
    /// field, nodiratime, nosymfollow (never MOUNT_ATTR_IDMAP: idmapping has its own path).
    public static let recursiveAttributes: UInt64 = 0x1 | 0x2 | 0x4 | 0x8 | 0x70 | 0x80 | 0x20_0000
    /// Every ENVYRO_MOUNT_* bit.
    public static let extraBits: UInt32 = 0x1F
    /// The kernel's limit of ranges per id map.
    public static let maxRanges = 340

    func validate(_ i: Int) throws(ProtocolError) {
        guard (attrSet | attrClear) & ~Self.recursiveAttributes == 0 else {
            throw .invalidValue(field: "mounts[\(i)].attributes", reason: "not a recursive mount attribute")
        }
        guard extra & ~Self.extraBits == 0 else { throw .invalidValue(field: "mounts[\(i)].extra", reason: "unknown bits") }
        let idmapped = extra & 4 != 0
        guard idmapped == !uidMappings.isEmpty, idmapped == !gidMappings.isEmpty else {
            throw .invalidValue(field: "mounts[\(i)].uidMappings", reason: "an idmapped mount needs uid and gid ranges, and only it has them")
        }
        guard !idmapped || (fstype.isEmpty && source.utf8.first == UInt8(ascii: "/")) else {
            throw .invalidValue(field: "mounts[\(i)].source", reason: "an idmapped mount is a bind of an absolute path")
        }
        for maps in [uidMappings, gidMappings] {
            guard maps.count <= Self.maxRanges else { throw .invalidValue(field: "mounts[\(i)].uidMappings", reason: "more than \(Self.maxRanges) ranges") }
            for m in maps where m.count == 0 || UInt64(m.containerID) + UInt64(m.count) > 1 << 32 || UInt64(m.hostID) + UInt64(m.count) > 1 << 32 {
                throw .invalidValue(field: "mounts[\(i)].uidMappings", reason: "an empty range or one past id 4294967295")
            }
        }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> WireMount {
        WireMount(source: try r.string("mounts.source"), destination: try r.string("mounts.destination"),
                  fstype: try r.string("mounts.fstype"), flags: try r.u64("mounts.flags"),
                  propagation: try r.u64("mounts.propagation"), data: try r.string("mounts.data"),
                  attrSet: try r.u64("mounts.attrSet"), attrClear: try r.u64("mounts.attrClear"),
                  extra: try r.u32("mounts.extra"),
                  uidMappings: try IDMapping.decodeList(from: &r, "mounts.uidMappings"),
                  gidMappings: try IDMapping.decodeList(from: &r, "mounts.gidMappings"))
    }
}
