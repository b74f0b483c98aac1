import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Turns `--userns auto`, `--uidmap C:H:N` and `--gidmap C:H:N` into id mappings. The helper
/// checks them again against /etc/subuid and /etc/subgid; this side only gives early, clear
/// errors and fills in `auto`.
public enum IDMapRequest {
    /// Parses one `CONTAINER:HOST:COUNT` option value.
    public static func parse(_ text: String, option: String) throws(SupervisorError) -> IDMapping {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let c = UInt32(parts[0]), let h = UInt32(parts[1]), let n = UInt32(parts[2]), n > 0 else {
            throw .invalidRequest("\(option) '\(text)': expected CONTAINER:HOST:COUNT with a count above 0, e.g. \(option) 0:1000:1")
        }
        guard UInt64(c) + UInt64(n) <= UInt64(UInt32.max), UInt64(h) + UInt64(n) <= UInt64(UInt32.max) else {
            throw .invalidRequest("\(option) '\(text)': the range overflows")
        }
        return IDMapping(containerID: c, hostID: h, count: n)
    }

    /// podman's `--userns=auto`: container root is the caller, then ids 1...N come from the
    /// caller's first subordinate range (N at most 65536).
    public static func auto(uid: uid_t, gid: gid_t, subuid: String = "/etc/subuid", subgid: String = "/etc/subgid") throws(SupervisorError) -> (uids: [IDMapping], gids: [IDMapping]) {
        let name = userName(uid)
        guard let u = firstRange(subuid, name: name, id: uid) else {
            throw .invalidRequest("--userns auto: no subordinate uids for \(name ?? String(uid)) in \(subuid); ask an admin to add a line like '\(name ?? String(uid)):100000:65536' (usermod --add-subuids)")
        }
        // A numeric /etc/subgid entry names the user's uid, not a gid, exactly as newgidmap
        // reads it (shadow's find_range matches the owner's name, then the owner's uid).
        guard let g = firstRange(subgid, name: name, id: uid) else {
            throw .invalidRequest("--userns auto: no subordinate gids for \(name ?? String(uid)) in \(subgid); ask an admin to add a line like '\(name ?? String(uid)):100000:65536' (usermod --add-subgids)")
        }
        let un = UInt32(min(u.count, 65536)), gn = UInt32(min(g.count, 65536))
        return ([IDMapping(containerID: 0, hostID: uid, count: 1), IDMapping(containerID: 1, hostID: u.start, count: un)],
                [IDMapping(containerID: 0, hostID: gid, count: 1), IDMapping(containerID: 1, hostID: g.start, count: gn)])
    }

    static func firstRange(_ path: String, name: String?, id: UInt32) -> (start: UInt32, count: UInt32)? {
        guard let r = Environment.subordinateRanges(path, user: name, id: id).first,
              let s = UInt32(exactly: r.start), let c = UInt32(exactly: min(r.count, UInt64(UInt32.max))) else { return nil }
        return (s, c)
    }

    static func userName(_ uid: uid_t) -> String? { Environment.userName(uid: uid) }
}
