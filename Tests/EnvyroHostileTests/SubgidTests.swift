import Foundation
import Testing

extension Hostile {
/// Issue 13, item 8 (privilege escalation through id mapping, the newgidmap class of
/// CVE-2018-7169): numeric /etc/subgid entries were matched against the caller's gid, while
/// newgidmap matches them against the uid. A user whose gid equals another user's uid could
/// take that user's subordinate gids.
@Suite("numeric /etc/subgid entries", .serialized,
       .enabled(if: Harness.isRoot && HostileSupport.cappedBin != nil, "needs root (to create a user, edit /etc/subgid and set file capabilities)"))
struct Subgid {
    static let user = "envyrohostile8"
    static let marker = "# envyro hostile test \(getpid())"

    /// Makes a user whose primary gid differs from its uid; returns (uid, gid).
    static func makeUser() throws -> (uid: UInt32, gid: UInt32) {
        var gid: UInt32 = 47_101
        while getgrgid(gid) != nil || getpwuid(gid) != nil { gid += 2 }
        var uid = gid + 1
        while getpwuid(uid) != nil || getgrgid(uid) != nil { uid += 2 }
        _ = try Harness.run(["/usr/sbin/groupadd", "-g", String(gid), user + "g"])
        let r = try Harness.run(["/usr/sbin/useradd", "-m", "-u", String(uid), "-g", String(gid), "-s", "/bin/sh", user])
        try #require(r.status == 0, "useradd: \(r.stderr)")
        return (uid, gid)
    }

    static func removeUser() {
        _ = try? Harness.run(["/usr/sbin/userdel", "-r", user])
        _ = try? Harness.run(["/usr/sbin/groupdel", user + "g"])
    }

    /// Appends `lines` to /etc/subgid (tagged, for removal).
    static func append(_ lines: [String]) throws {
        let old = try String(contentsOfFile: "/etc/subgid", encoding: .utf8)
        let text = (old.hasSuffix("\n") || old.isEmpty ? old : old + "\n") + lines.map { "\($0)\n" }.joined()
        try replace(with: text)
    }

    /// Writes /etc/subgid whole: a file beside it, then rename (Foundation's atomic write
    /// leaves a /tmp/TemporaryDirectory.* behind on Linux).
    static func replace(with text: String) throws {
        let temporary = "/etc/subgid.envyro-test-\(getpid())"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        chmod(temporary, 0o644)
        guard rename(temporary, "/etc/subgid") == 0 else {
            unlink(temporary)
            throw Harness.SkipInfo("cannot replace /etc/subgid: errno \(errno)")
        }
    }

    static func removeLines(_ lines: [String]) {
        guard let old = try? String(contentsOfFile: "/etc/subgid", encoding: .utf8) else { return }
        let kept = old.split(separator: "\n", omittingEmptySubsequences: false).filter { !lines.contains(String($0)) }
        try? replace(with: kept.joined(separator: "\n"))
    }

    @Test("a numeric /etc/subgid entry equal to the caller's gid (another user's uid) grants nothing; one equal to the caller's uid does")
    func numericEntryIsAUID() throws {
        let bin = try #require(HostileSupport.cappedBin)
        Self.removeUser()
        let (uid, gid) = try Self.makeUser()
        defer { Self.removeUser() }
        // "gid:..." names the user whose uid is that number; "uid:..." names our user.
        let foreign = "\(gid):1900000000:1000", own = "\(uid):1900001000:1000"
        try Self.append([foreign, own])
        defer { Self.removeLines([foreign, own]) }
        let envyro = bin.appendingPathComponent("envyro").path
        let stolen = try HostileSupport.run(as: Self.user, [envyro, "run", "--uidmap", "0:\(uid):1", "--gidmap", "0:\(gid):1",
                                                              "--gidmap", "1:1900000000:1000", "--", "cat", "/proc/self/gid_map"])
        #expect(stolen.status == 125, "the gid map from another user's numeric entry was accepted: \(stolen.stdout)")
        #expect(stolen.stderr.contains("host gids 1900000000-1900000999 are not yours"), "\(stolen.stderr)")
        let mine = try HostileSupport.run(as: Self.user, [envyro, "run", "--uidmap", "0:\(uid):1", "--gidmap", "0:\(gid):1",
                                                            "--gidmap", "1:1900001000:1000", "--", "cat", "/proc/self/gid_map"])
        #expect(mine.status == 0, "\(mine.stderr)")
        #expect(mine.stdout.contains("1900001000"), "\(mine.stdout)")
    }
}
}
