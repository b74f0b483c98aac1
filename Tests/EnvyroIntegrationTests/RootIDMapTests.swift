import Foundation
import Testing

extension Integration {
/// Host root writes any uid/gid mapping for an OCI bundle with a user namespace, as runc and
/// crun let it (rootful podman's `--userns` and `--uidmap`; issue 17). The kernel checks what
/// root writes; envyro still refuses overflow, overlap and more extents than the policy allows.
@Suite("root's id mappings", .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
struct RootIDMaps {
    static func run(uid: [[String: Int]], gid: [[String: Int]]) throws -> Harness.Result {
        let b = try OCIBundle("root-idmap", args: ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"])
        defer { b.cleanup() }
        var linux = b.linux
        var namespaces = linux["namespaces"] as? [[String: Any]] ?? []
        if !namespaces.contains(where: { $0["type"] as? String == "user" }) { namespaces.append(["type": "user"]) }
        linux["namespaces"] = namespaces
        linux["uidMappings"] = uid
        linux["gidMappings"] = gid
        b.linux = linux
        // The rootfs is root's: a container root mapped elsewhere reads it as "other".
        _ = try Harness.run(["/bin/chmod", "-R", "o+rX", b.bundle.path])
        try b.write()
        return try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
    }

    @Test("root maps container root to a range of its choice, with no /etc/subuid entry", arguments: [
        ([["containerID": 0, "hostID": 100_000, "size": 65_536]], ["0 100000 65536", "0 100000 65536", "0"]),
        ([["containerID": 0, "hostID": 0, "size": 4_294_967_295]], ["0 0 4294967295", "0 0 4294967295", "0"]),
        ([["containerID": 0, "hostID": 200_000, "size": 1000], ["containerID": 1000, "hostID": 300_000, "size": 1000]],
         ["0 200000 1000", "1000 300000 1000", "0 200000 1000", "1000 300000 1000", "0"]),
    ])
    func anyMap(map: [[String: Int]], expected: [String]) throws {
        let r = try Self.run(uid: map, gid: map)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.lines(r.stdout) == expected, "\(r.stdout)")
    }

    /// The README's advice for running untrusted code as root: with the default single-id map
    /// container root is host root and reads root's files in the bound /etc; mapped elsewhere it
    /// reads none.
    @Test("as root, envyro run reads /etc/shadow with the default map and can't with --uidmap 0:100000:65536")
    func remappedRootReadsNoHostSecret() throws {
        let read = ["--", "head", "-c", "1", "/etc/shadow"]
        let own = try Harness.envyro(["run", "--policy", "strict"] + read)
        #expect(own.status == 0 && own.stdout.count == 1, "the default map is host root's: \(own.stderr)")
        let mapped = try Harness.envyro(["run", "--policy", "strict", "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"] + read)
        #expect(mapped.status != 0 && mapped.stdout.isEmpty && mapped.stderr.contains("Permission denied"), "\(mapped.stdout) \(mapped.stderr)")
    }

    @Test("root's overlapping ranges are still refused by name")
    func overlap() throws {
        let map = [["containerID": 0, "hostID": 100_000, "size": 1000], ["containerID": 1000, "hostID": 100_500, "size": 1000]]
        let r = try Self.run(uid: map, gid: map)
        #expect(r.status != 0)
        #expect(r.stderr.contains("overlaps"), "\(r.stderr)")
    }
}
}
