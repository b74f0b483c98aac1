import Foundation

/// A static probe program and a rootfs holding only it, for `--rootfs` tests.
enum StaticProbe {
    static let source = """
        #include <dirent.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }
        static void create(const char *p) {
            int fd = open(p, O_CREAT | O_WRONLY, 0644);
            printf("create %s: %s\\n", p, fd >= 0 ? "ok" : (errno == EROFS ? "EROFS" : strerror(errno)));
        }
        int main(void) {
            char *names[64]; int n = 0; DIR *d = opendir("/"); struct dirent *e;
            while (d && (e = readdir(d)) && n < 64) if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
            qsort(names, n, sizeof *names, cmp);
            printf("entries:"); for (int i = 0; i < n; i++) printf(" %s", names[i]); printf("\\n");
            create("/new"); create("/tmp/new");
            return 0;
        }
        """

    /// A fresh rootfs with /probe, /tmp, readable by the ordinary user.
    static func rootfs() throws -> URL {
        let dir = Harness.scratchDirectory("rootfs")
        let src = dir.appendingPathComponent("probe.c")
        try source.write(to: src, atomically: false, encoding: .utf8)
        let root = dir.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let cc = try Harness.run(["/usr/bin/gcc", "-static", "-O1", "-o", root.appendingPathComponent("probe").path, src.path])
        guard cc.status == 0 else { throw Harness.SkipInfo("gcc -static failed: \(cc.stderr)") }
        try? FileManager.default.removeItem(at: src)
        _ = try Harness.run(["/bin/chmod", "-R", "a+rwX", dir.path])
        return root
    }
}

/// Copies of the shipped policies with test-specific settings.
enum PolicyFiles {
    /// `policy/NAME.json` with its audit path replaced; returns the path. The file goes into a
    /// directory of its own with mode 0755 (a helper run by root trusts only policy files that
    /// nobody else can write), and the policy's relative seccomp profile path is made absolute.
    static func copy(of name: String, auditPath: String, into _: URL) throws -> String {
        let dir = Harness.installRoot.appendingPathComponent("policies-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let data = try Data(contentsOf: Harness.repoRoot.appendingPathComponent("policy/\(name).json"))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var audit = json["audit"] as! [String: Any]
        audit["path"] = auditPath
        json["audit"] = audit
        if var seccomp = json["seccomp"] as? [String: Any], let profile = seccomp["profile"] as? String, !profile.hasPrefix("/") {
            seccomp["profile"] = Harness.installRoot.appendingPathComponent("policy/\(profile)").path
            json["seccomp"] = seccomp
        }
        let path = dir.appendingPathComponent("\(name)-test.json").path
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: path))
        _ = try Harness.run(["/bin/chmod", "a+r", path])
        return path
    }
}
