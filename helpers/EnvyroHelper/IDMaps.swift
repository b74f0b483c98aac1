import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// A range from /etc/subuid or /etc/subgid.
struct SubordinateRange: Equatable {
    var start: UInt64
    var count: UInt64
}

/// The id maps a container gets, checked exactly as newuidmap/newgidmap check them.
///
/// Why this is safe: every host range must be the caller's own id (x1) or lie inside one of the
/// caller's subordinate ranges (read from root-owned /etc/subuid and /etc/subgid, matched by
/// user name or uid, in both files); counts can't overflow (the protocol decoder refuses); host ranges and
/// container ranges don't overlap; the number of extents is bounded by the policy. The target
/// is always this helper's own child, named by the pidfd clone3 returned, never by a pid a
/// caller supplies. `setgroups` is set to `deny` unless a subgid range authorises the gid map.
package struct IDMapPlan {
    /// uid_map's lines.
    package var uidLines: String
    /// gid_map's lines.
    package var gidLines: String
    /// Whether setgroups is denied (no subgid range authorises the gid map).
    package var denySetgroups: Bool
    /// More than the single-id map (needs CAP_SETUID/CAP_SETGID).
    package var multiRange: Bool

    /// Validates `uids`/`gids` (empty: the single-id map of the caller) for `caller`.
    static func make(uids: [IDMapping], gids: [IDMapping], caller: Caller, policy: Policy,
                     subuidFile: String = "/etc/subuid", subgidFile: String = "/etc/subgid") -> Result<IDMapPlan, MapRefusal> {
        if uids.isEmpty && gids.isEmpty {
            return .success(IDMapPlan(uidLines: "0 \(caller.uid) 1\n", gidLines: "0 \(caller.gid) 1\n",
                                      denySetgroups: true, multiRange: false))
        }
        if uids.isEmpty || gids.isEmpty {
            return .failure(MapRefusal("give both a uid map and a gid map (or neither)"))
        }
        // Host root may write any map, as with runc and crun (rootful podman's --userns and
        // --uidmap): newuidmap's rules are for ordinary users, and the kernel itself checks what
        // root writes. Root's maps are still checked for overflow, overlap and the policy's
        // number of extents.
        if caller.uid == 0 && geteuid() == 0 {
            let everything = [SubordinateRange(start: 0, count: UInt64(UInt32.max) + 1)]
            if let why = check(uids, kind: "uid", own: 0, ranges: everything, policy: policy)
                ?? check(gids, kind: "gid", own: 0, ranges: everything, policy: policy) {
                return .failure(why)
            }
            return .success(IDMapPlan(uidLines: lines(uids), gidLines: lines(gids), denySetgroups: false, multiRange: true))
        }
        let name = userName(uid: caller.uid)
        let subuids = readRanges(subuidFile, user: name, id: caller.uid)
        // Both files are keyed by the user: a numeric /etc/subgid entry is a uid, as newgidmap
        // reads it (shadow's find_range: the owner's name, else the owner's uid). Matching it
        // against the caller's gid let a user whose gid equals another user's uid take that
        // user's subordinate gids (issue 13, item 8).
        let subgids = readRanges(subgidFile, user: name, id: caller.uid)
        if let why = check(uids, kind: "uid", own: caller.uid, ranges: subuids, policy: policy) { return .failure(why) }
        if let why = check(gids, kind: "gid", own: caller.gid, ranges: subgids, policy: policy) { return .failure(why) }
        let gidUsesSubordinate = gids.contains { !($0.hostID == caller.gid && $0.count == 1) }
        return .success(IDMapPlan(uidLines: lines(uids), gidLines: lines(gids),
                                  denySetgroups: !gidUsesSubordinate, multiRange: true))
    }

    /// Why a map is refused, or nil.
    static func check(_ list: [IDMapping], kind: String, own: UInt32, ranges: [SubordinateRange], policy: Policy) -> MapRefusal? {
        if list.count > policy.idmap.maxExtents {
            return MapRefusal("\(list.count) \(kind) map extents exceed policy \(policy.name)'s limit of \(policy.idmap.maxExtents)")
        }
        for (i, m) in list.enumerated() {
            let start = UInt64(m.hostID), end = UInt64(m.hostID) + UInt64(m.count)
            if UInt64(m.containerID) + UInt64(m.count) > UInt64(UInt32.max) || end > UInt64(UInt32.max) {
                return MapRefusal("\(kind) map \(describe(m)): the range overflows")
            }
            let isOwn = m.hostID == own && m.count == 1
            if !isOwn {
                if !policy.idmap.allowSubordinate {
                    return MapRefusal("\(kind) map \(describe(m)): policy \(policy.name) allows only your own \(kind) \(own)")
                }
                if !ranges.contains(where: { $0.start <= start && end <= $0.start + $0.count }) {
                    let mine = ranges.isEmpty ? "none" : ranges.map { "\($0.start)-\($0.start + $0.count - 1)" }.joined(separator: ", ")
                    return MapRefusal("\(kind) map \(describe(m)): host \(kind)s \(start)-\(end - 1) are not yours (your own \(kind) is \(own); your subordinate ranges: \(mine))")
                }
            }
            for other in list[..<i] {
                if overlaps(UInt64(other.hostID), UInt64(other.count), start, UInt64(m.count)) {
                    return MapRefusal("\(kind) map \(describe(m)) overlaps \(describe(other)) on the host side")
                }
                if overlaps(UInt64(other.containerID), UInt64(other.count), UInt64(m.containerID), UInt64(m.count)) {
                    return MapRefusal("\(kind) map \(describe(m)) overlaps \(describe(other)) inside the container")
                }
            }
        }
        return nil
    }

    /// A map file's lines.
    static func lines(_ list: [IDMapping]) -> String { list.map { "\($0.containerID) \($0.hostID) \($0.count)\n" }.joined() }

    static func overlaps(_ a: UInt64, _ n: UInt64, _ b: UInt64, _ m: UInt64) -> Bool { a < b + m && b < a + n }

    static func describe(_ m: IDMapping) -> String { "\(m.containerID):\(m.hostID):\(m.count)" }

    /// The caller's ranges in a subordinate-id file.
    static func readRanges(_ path: String, user: String?, id: UInt32) -> [SubordinateRange] {
        Environment.subordinateRanges(path, user: user, id: id).map { SubordinateRange(start: $0.start, count: $0.count) }
    }

    static func userName(uid: uid_t) -> String? { Environment.userName(uid: uid) }

}

/// Why an id map is refused.
struct MapRefusal: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
