import Foundation
import Glibc
import Testing

/// One bundle (OCIBundle) run under envyro and under a reference runtime, with host fixtures
/// for mount tests: a source with a submount, a fifo, a socket, a shared mount. Every mount it
/// makes on the host is undone by `cleanup()`.
final class MountBench {
    enum Reference: CustomStringConvertible {
        case crun, runc
        var description: String { self == .crun ? "crun" : "runc" }
    }

    struct Comparison: CustomStringConvertible {
        var envyro: Harness.Result
        var reference: Harness.Result
        var description: String {
            "envyro[\(envyro.status)]: \(envyro.stdout)\(envyro.stderr) | reference[\(reference.status)]: \(reference.stdout)\(reference.stderr)"
        }
    }

    static let crunAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/crun")
        && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")

    let bundle: OCIBundle
    private var hostMounts: [String] = []
    private let baseMounts: [[String: Any]]

    /// `userns`: the container gets a user namespace, root mapped to host 100000 (65536 ids).
    init(_ name: String, userns: Bool = false) throws {
        bundle = try OCIBundle("mount-\(name)", args: ["true"])
        baseMounts = bundle.config["mounts"] as? [[String: Any]] ?? []
        try FileManager.default.createDirectory(atPath: host(""), withIntermediateDirectories: true)
        if userns {
            var linux = bundle.linux
            var namespaces = linux["namespaces"] as? [[String: Any]] ?? []
            if !namespaces.contains(where: { $0["type"] as? String == "user" }) { namespaces.append(["type": "user"]) }
            linux["namespaces"] = namespaces
            linux["uidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65_536]]
            linux["gidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65_536]]
            bundle.linux = linux
        }
        _ = try Harness.run(["/bin/chmod", "-R", "o+rX", bundle.dir.path])
    }

    /// A path in this bench's host directory.
    func host(_ name: String) -> String { bundle.dir.appendingPathComponent("host").appendingPathComponent(name).path }

    /// A bind mount entry.
    func bind(_ source: String, _ destination: String, _ options: [String], uid: [[String: Int]]? = nil, gid: [[String: Int]]? = nil) -> [String: Any] {
        var m: [String: Any] = ["destination": destination, "type": "bind", "source": source, "options": options]
        if let uid { m["uidMappings"] = uid }
        if let gid { m["gidMappings"] = gid }
        return m
    }

    /// host/src: "file" (root's) and "sub", a tmpfs holding "marker" ("submount").
    func sourceWithSubmount() throws -> String {
        let src = host("src")
        try FileManager.default.createDirectory(atPath: src + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: src + "/file", contents: nil)
        try mountOnHost(["-t", "tmpfs", "-o", "size=1m,mode=755", "envyro-sub", src + "/sub"], at: src + "/sub")
        try "submount".write(toFile: src + "/sub/marker", atomically: false, encoding: .utf8)
        return src
    }

    /// host/idsrc with "file" owned by 0:0.
    func ownedSource() throws -> String {
        let src = host("idsrc")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: src + "/file", contents: nil)
        _ = chown(src + "/file", 0, 0)
        return src
    }

    /// A fifo or a bound unix socket in the host directory.
    func specialFile(_ kind: String) throws -> String {
        let path = host(kind)
        if kind == "fifo" {
            guard mkfifo(path, 0o644) == 0 else { throw Harness.SkipInfo("mkfifo \(path): errno \(errno)") }
            return path
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else { throw Harness.SkipInfo("bind \(path): errno \(errno)") }
        return path
    }

    /// host/shared: a tmpfs made shared on the host (a peer group of its own).
    func sharedMount() throws -> String {
        let path = host("shared")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try mountOnHost(["-t", "tmpfs", "-o", "size=1m", "envyro-shared", path], at: path)
        _ = try Harness.run(["/bin/mount", "--make-shared", path])
        return path
    }

    /// A directory in the rootfs (a user-namespaced root can't make one in root's rootfs).
    func makeInRootfs(_ name: String) throws {
        try FileManager.default.createDirectory(at: bundle.rootfs.appendingPathComponent(name), withIntermediateDirectories: true)
    }

    private func mountOnHost(_ args: [String], at path: String) throws {
        let r = try Harness.run(["/bin/mount"] + args)
        guard r.status == 0 else { throw Harness.SkipInfo("mount \(args): \(r.stderr)") }
        hostMounts.append(path)
    }

    /// config.json with the spec's mounts (less `replacing`) plus `mounts`, running `script`.
    private func configure(_ mounts: [[String: Any]], replacing: String?, script: String) throws {
        bundle.config["mounts"] = baseMounts.filter { $0["destination"] as? String != replacing } + mounts
        bundle.process["args"] = ["sh", "-c", script]
        try bundle.write()
    }

    /// `envyro run` of the bundle.
    func envyro(mounts: [[String: Any]], replacing: String? = nil, script: String) throws -> Harness.Result {
        try configure(mounts, replacing: replacing, script: script)
        return try bundle.envyro(["run", "--bundle", bundle.bundle.path, bundle.newID("m")])
    }

    /// The reference runtime's `run` of the bundle, with its own state directory.
    func reference(mounts: [[String: Any]], replacing: String? = nil, script: String, _ which: Reference = .crun) throws -> Harness.Result {
        try configure(mounts, replacing: replacing, script: script)
        return try Harness.run(Self.referenceArgv(which, bundle: bundle.bundle.path, state: bundle.dir.appendingPathComponent("ref-state").path,
                                                  id: "ref-\(UUID().uuidString.prefix(8).lowercased())", scratch: host("")))
    }

    /// crun 1.8.1 refuses this host's hybrid cgroup layout: it runs in a mount namespace of its
    /// own (propagation unchanged, so shared mounts stay peers of the host's) with an empty
    /// file over the unified hierarchy's cgroup.controllers, and without a cgroup manager.
    static func referenceArgv(_ which: Reference, bundle: String, state: String, id: String, scratch: String) -> [String] {
        if which == .runc { return ["/usr/sbin/runc", "--root", state, "run", "--bundle", bundle, id] }
        let empty = scratch + "/empty"
        FileManager.default.createFile(atPath: empty, contents: nil)
        let prepare = "f=/sys/fs/cgroup/unified/cgroup.controllers; if [ -e $f ]; then mount --bind \(empty) $f || exit 1; fi; exec /usr/bin/crun \"$@\""
        return ["/usr/bin/unshare", "-m", "--propagation", "unchanged", "/bin/sh", "-c", prepare, "crun",
                "--root", state, "--cgroup-manager=disabled", "run", "--bundle", bundle, id]
    }

    /// The same bundle under envyro and under `reference`.
    func compare(mounts: [[String: Any]], replacing: String? = nil, script: String, reference which: Reference = .crun) throws -> Comparison {
        let e = try envyro(mounts: mounts, replacing: replacing, script: script)
        let r = try reference(mounts: mounts, replacing: replacing, script: script, which)
        return Comparison(envyro: e, reference: r)
    }

    /// Runs the bundle under `runtime` (nil: envyro) in the background; once `readyFile`
    /// exists, runs `action`, then waits for the container to finish.
    func whileRunning(_ runtime: Reference?, mounts: [[String: Any]], script: String, readyFile: String,
                      _ action: () throws -> Void) throws -> Harness.Result {
        try configure(mounts, replacing: nil, script: script)
        let argv: [String]
        if let runtime {
            argv = Self.referenceArgv(runtime, bundle: bundle.bundle.path, state: bundle.dir.appendingPathComponent("ref-state").path,
                                      id: "ref-\(UUID().uuidString.prefix(8).lowercased())", scratch: host(""))
        } else {
            argv = [Harness.envyro, "--root", bundle.stateRoot, "run", "--bundle", bundle.bundle.path, bundle.newID("m")]
        }
        nonisolated(unsafe) var result = Harness.Result(status: -1, stdout: "", stderr: "not run")
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            result = (try? Harness.run(argv, timeout: 60)) ?? result
            done.signal()
        }
        let ready = OCIRunner.wait(30) { FileManager.default.fileExists(atPath: readyFile) }
        if ready { try action() } else { FileManager.default.createFile(atPath: readyFile.replacingOccurrences(of: "/ready", with: "/go"), contents: nil) }
        done.wait()
        if !ready { result.stderr += "\n(the container never became ready)" }
        return result
    }

    /// Whether `path` is a mount point in this process's mount namespace (the host's).
    static func isMounted(_ path: String) -> Bool {
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first == Substring(path) }
    }

    /// Undoes the host mounts (submounts first: lazily, recursively), then the bundle.
    func cleanup() {
        for path in hostMounts.reversed() {
            while Self.isMounted(path) || Self.isMounted(path + "/inner") || Self.isMounted(path + "/late") {
                guard (try? Harness.run(["/bin/umount", "-R", "-l", path]))?.status == 0 else { break }
            }
        }
        bundle.cleanup()
    }
}
