import EnvyroSeccomp
import Foundation

/// Paths and fixtures shared by the seccomp tests.
enum Fixtures {
    /// The package root (three levels above this file).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `policy/seccomp/<name>.json` in the package.
    static func shippedPath(_ name: String) -> String { "\(packageRoot)/policy/seccomp/\(name).json" }

    /// A shipped profile, loaded.
    static func shipped(_ name: String) throws -> SeccompProfile {
        try SeccompProfile.load(path: shippedPath(name))
    }

    /// Parses `text` as a profile named `path`.
    static func parse(_ text: String, path: String = "policy/seccomp/x.json") throws -> SeccompProfile {
        try SeccompProfile.parse(bytes: Array(text.utf8), path: path)
    }

    /// The error `text` is rejected with, or nil if it parses.
    static func parseError(_ text: String, path: String = "policy/seccomp/x.json") -> SeccompError? {
        do {
            _ = try parse(text, path: path)
            return nil
        } catch let error as SeccompError {
            return error
        } catch {
            return SeccompError(path: path, entry: nil, reason: "unexpected \(error)")
        }
    }

    /// A hand-written profile in the moby schema, in the style of Docker's and podman's
    /// published profiles: archMap with a null subArchitectures, includes/excludes by
    /// capability, architecture and kernel, empty objects and null lists, the legacy `name`,
    /// comments, `valueTwo`, one argument compared twice, and system calls newer than this
    /// libseccomp.
    static let mobyStyle = """
    {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": [
            {
                "names": ["read", "write", "close", "exit_group", "chown32", "_llseek", "mseal", "lsm_list_modules"],
                "action": "SCMP_ACT_ALLOW",
                "args": [],
                "comment": "",
                "includes": {},
                "excludes": {}
            },
            {
                "name": "getpid",
                "action": "SCMP_ACT_ALLOW",
                "args": null
            },
            {
                "names": ["ptrace"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"minKernel": "4.8"}
            },
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}
                ]
            },
            {
                "names": ["arch_prctl"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"arches": ["amd64", "x32"]}
            },
            {
                "names": ["set_tls", "cacheflush"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"arches": ["arm", "arm64"]}
            },
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
                ],
                "excludes": {"caps": ["CAP_AUDIT_WRITE"]},
                "errnoRet": 22
            },
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_NE"}],
                "excludes": {"caps": ["CAP_AUDIT_WRITE"]}
            },
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_AUDIT_WRITE"]}
            },
            {
                "names": ["mount", "umount2", "setns"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_ADMIN"]}
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}
            },
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 1, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                "comment": "s390 parameter ordering for clone is different",
                "includes": {"arches": ["s390", "s390x"]},
                "excludes": {"caps": ["CAP_SYS_ADMIN"]}
            },
            {
                "names": ["clone3"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 38,
                "excludes": {"caps": ["CAP_SYS_ADMIN"]}
            },
            {
                "names": ["reboot"],
                "action": "SCMP_ACT_ALLOW",
                "includes": {"caps": ["CAP_SYS_BOOT"]}
            },
            {
                "names": ["kexec_load"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "comment": "same as the default: left out"
            }
        ]
    }
    """
}
