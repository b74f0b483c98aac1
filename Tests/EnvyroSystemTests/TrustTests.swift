import EnvyroSystem
import Glibc
import Testing

/// The judgements behind trusting a file or a runtime directory (issue 13, items 4, 6 and 8),
/// on made-up facts: no privileges, no files.
@Suite("trusting paths and subordinate ids")
struct TrustTests {
    static func dir(_ path: String, uid: uid_t = 0, mode: mode_t = 0o755) -> PathComponent {
        PathComponent(path: path, uid: uid, mode: S_IFDIR | mode, fileSystem: 0xEF53)
    }
    static func file(_ path: String, uid: uid_t = 0, mode: mode_t = 0o644) -> PathComponent {
        PathComponent(path: path, uid: uid, mode: S_IFREG | mode, fileSystem: 0xEF53)
    }

    @Test("a root-owned chain from / to the file is trusted")
    func rootChain() {
        let chain = [Self.dir("/"), Self.dir("/etc"), Self.dir("/etc/envyro"), Self.file("/etc/envyro/p.json")]
        #expect(SecurePath.refusal(chain, owners: [0]) == nil)
    }

    @Test("a root-owned directory below sticky /tmp is trusted; /tmp itself is world-writable but sticky")
    func stickyTmp() {
        let chain = [Self.dir("/"), Self.dir("/tmp", mode: 0o1777), Self.dir("/tmp/envyro-it"), Self.file("/tmp/envyro-it/p.json")]
        #expect(SecurePath.refusal(chain, owners: [0]) == nil)
    }

    @Test("a refused chain names the component and why", arguments: [
        ([dir("/"), dir("/tmp", mode: 0o1777), dir("/tmp/u", uid: 1000), file("/tmp/u/p.json")], "/tmp/u", "owned by uid 1000"),
        ([dir("/"), dir("/tmp", mode: 0o1777), file("/tmp/p.json", uid: 1000)], "/tmp/p.json", "owned by uid 1000"),
        ([dir("/"), dir("/srv", mode: 0o777), dir("/srv/p"), file("/srv/p/p.json")], "/srv", "not sticky"),
        ([dir("/"), dir("/srv", mode: 0o775), file("/srv/p.json")], "/srv", "writable by group or others"),
        ([dir("/"), dir("/etc"), file("/etc/p.json", mode: 0o666)], "/etc/p.json", "writable by group or others"),
        ([dir("/"), dir("/etc"), file("/etc/p.json", mode: 0o1666)], "/etc/p.json", "writable by group or others"),
        ([dir("/"), PathComponent(path: "/home/u/fuse", uid: 0, mode: S_IFDIR | 0o755, fileSystem: SecurePath.fuseMagic),
          file("/home/u/fuse/p.json")], "/home/u/fuse", "FUSE"),
        ([dir("/"), dir("/etc"), PathComponent(path: "/etc/p.json", uid: 0, mode: S_IFIFO | 0o644, fileSystem: 0xEF53)], "/etc/p.json", "not a regular file"),
    ] as [([PathComponent], String, String)])
    func refused(chain: [PathComponent], path: String, reason: String) {
        let why = SecurePath.refusal(chain, owners: [0])
        #expect(why?.path == path, "\(String(describing: why))")
        #expect(why?.reason.contains(reason) == true, "\(String(describing: why))")
    }

    @Test("a runtime directory must be ours, a directory (not a symlink), and mode 0700", arguments: [
        (1000 as uid_t, S_IFDIR | 0o700, nil as String?),
        (1001, S_IFDIR | 0o700, "belongs to uid 1001"),
        (1000, S_IFDIR | 0o755, "mode 0755"),
        (1000, S_IFLNK | 0o777, "is a symlink"),
        (1000, S_IFREG | 0o600, "is not a directory"),
    ] as [(uid_t, mode_t, String?)])
    func runtimeDirectory(owner: uid_t, mode: mode_t, problem: String?) {
        let why = RuntimeDirectory.refusal("/tmp/envyro-1000", owner: owner, mode: mode, uid: 1000)
        if let problem { #expect(why?.contains(problem) == true, "\(String(describing: why))") } else { #expect(why == nil) }
    }

    @Test("the real file system: / and /etc/passwd are root's, a symlink in the middle is resolved once")
    func realFiles() throws {
        let fd = try SecurePath.open("/etc/passwd", owners: [0])
        close(fd)
        #expect(throws: UntrustedPath.self) { try SecurePath.open("/proc/self/status", owners: [12345]) }
    }

    static let subgid = """
        alice:100000:65536
        1001:300000:65536
        2002:500000:1000
        """

    @Test("numeric subordinate-id entries name a uid, as newgidmap reads /etc/subgid", arguments: [
        ("alice" as String?, 1000 as UInt32, [100000 as UInt64]),
        (nil, 1001, [300000]),
        ("bob", 1001, [300000]),
        ("bob", 2001, []),
    ])
    func subordinate(user: String?, uid: UInt32, starts: [UInt64]) {
        #expect(Environment.subordinateRanges(text: Self.subgid, user: user, id: uid).map(\.start) == starts)
    }
}
