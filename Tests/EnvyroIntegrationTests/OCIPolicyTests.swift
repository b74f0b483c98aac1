import Foundation
import Testing

/// What a bundle may ask for under the shipped OCI policies (issue 17): host root gets runc's
/// behaviour under `oci` (host namespaces, every capability, no filter of envyro's own,
/// devices), `oci-restricted` keeps the old rules for everyone, ordinary users keep theirs under
/// both; and envyro's own last steps never depend on the bundle's seccomp filter allowing them.
/// Each result is compared with crun's on the same bundle.
extension Integration {
    @Suite("OCI policies and the bundle's filter", .serialized, .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
    struct OCIPolicyTests {
        /// Capability names by number (linux/capability.h).
        static let capabilityNames = [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
            "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
            "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
        ]

        /// This process's bounding set (what podman's --privileged gives: every capability root has here).
        static var hostBounding: (hex: String, names: [String]) {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let hex = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }.map { String($0.dropFirst(7)).trimmingCharacters(in: .whitespaces) } ?? "0"
            let mask = UInt64(hex, radix: 16) ?? 0
            return (hex, capabilityNames.indices.filter { mask & (1 << UInt64($0)) != 0 }.map { capabilityNames[$0] })
        }

        /// A bundle as `podman run --privileged --network host --uts host --ipc host --pid host`
        /// makes it: no namespaces but mount, every capability, no seccomp, no masked paths, the
        /// allow-all device rule and one host device node.
        static func privileged(_ name: String, args: [String]) throws -> OCIBundle {
            let b = try OCIBundle(name, args: args)
            var linux = b.linux
            linux["namespaces"] = [["type": "mount"]]
            linux.removeValue(forKey: "seccomp")
            linux["maskedPaths"] = []
            linux["readonlyPaths"] = []
            linux["devices"] = [["path": "/dev/zero-host", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666, "uid": 0, "gid": 0]]
            var resources = linux["resources"] as? [String: Any] ?? [:]
            resources["devices"] = [["allow": true, "access": "rwm"]]
            linux["resources"] = resources
            b.linux = linux
            b.config.removeValue(forKey: "hostname")
            var p = b.process
            let caps = hostBounding.names
            p["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
            b.process = p
            try b.write()
            return b
        }

        @Test("host root under oci: a bundle that omits the net, uts, ipc and pid namespaces shares the host's, as with crun")
        func hostNamespaces() throws {
            let probe = "for n in net uts ipc pid; do readlink /proc/self/ns/$n; done; hostname"
            let b = try Self.privileged("host-ns", args: ["sh", "-c", probe])
            defer { b.cleanup() }
            let host = try Harness.run(["/bin/sh", "-c", probe]).stdout
            for runtime in OCIRef.withCrun where runtime.available {
                let id = b.newID("hostns-\(runtime)")
                defer { OCIRef.cleanup(b, [id]) }
                let r = try OCIRef.run(runtime, b, ["run", "--bundle", b.bundle.path, id])
                #expect(r.status == 0, "\(runtime): \(r.stderr)")
                #expect(r.stdout == host, "\(runtime)")
            }
        }

        @Test("host root under oci: --privileged gets every capability the host has, no seccomp filter and the bundle's devices, as with crun")
        func privilegedContainer() throws {
            let probe = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status; head -c 5 /dev/zero-host | wc -c; echo timer_list $(head -c 1 /proc/timer_list | wc -c)"
            let b = try Self.privileged("privileged", args: ["sh", "-c", probe])
            defer { b.cleanup() }
            var outputs: [OCIRef.Runtime: String] = [:]
            for runtime in OCIRef.withCrun where runtime.available {
                let id = b.newID("priv-\(runtime)")
                defer { OCIRef.cleanup(b, [id]) }
                let r = try OCIRef.run(runtime, b, ["run", "--bundle", b.bundle.path, id])
                #expect(r.status == 0, "\(runtime): \(r.stderr)")
                outputs[runtime] = r.stdout
            }
            let lines = (outputs[.envyro] ?? "").split(separator: "\n").map { $0.replacingOccurrences(of: "\t", with: " ") }
            #expect(lines.contains("CapEff: \(Self.hostBounding.hex)"), "\(lines)")
            #expect(lines.contains("Seccomp: 0"), "\(lines)")
            #expect(lines.contains("5"), "the device node")
            #expect(lines.contains("timer_list 1"), "nothing masked (the policy masks /proc/timer_list for everyone else)")
            if OCIRef.crunAvailable { #expect(outputs[.envyro] == outputs[.crun]) }
        }

        @Test("oci-restricted (by --policy or ENVYRO_OCI_POLICY, as an engine's wrapper sets it) holds root to the old rules, by name")
        func restricted() throws {
            let b = try Self.privileged("restricted", args: ["true"])
            defer { b.cleanup() }
            for (args, env) in [(["--policy", "oci-restricted"], [String: String]()), ([], ["ENVYRO_OCI_POLICY": "oci-restricted"])] {
                let id = b.newID("restricted")
                let r = try OCIRef.run(.envyro, b, args + ["run", "--bundle", b.bundle.path, id], env: env)
                #expect(r.status == 1)
                #expect(r.stderr.contains("CAP_SYS_ADMIN") && r.stderr.contains("which policy oci-restricted does not allow"), "\(r.stderr)")
                #expect(try OCIRef.status(.envyro, b, id) == nil)
            }
            // The wrapper engines are pointed at (contrib/oci/envyro-runc-restricted, installed beside envyro-runc).
            let wrapper = Harness.installRoot.appendingPathComponent("bin/envyro-runc-restricted").path
            if !FileManager.default.fileExists(atPath: wrapper) {
                try FileManager.default.copyItem(atPath: Harness.repoRoot.appendingPathComponent("contrib/oci/envyro-runc-restricted").path, toPath: wrapper)
            }
            let w = try OCIRef.spawn([wrapper, "--root", b.stateRoot, "run", "--bundle", b.bundle.path, b.newID("wrapper")], cwd: "/",
                                     env: [:], scratch: b.dir, timeout: 60)
            #expect(w.status == 1)
            #expect(w.stderr.contains("which policy oci-restricted does not allow"), "\(w.stderr)")
            // With only the default capabilities, the host's namespaces are refused next.
            var p = b.process
            p["capabilities"] = ["bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]]
            b.process = p
            try b.write()
            let r = try OCIRef.run(.envyro, b, ["--policy", "oci-restricted", "run", "--bundle", b.bundle.path, b.newID("restricted-ns")])
            #expect(r.status == 1)
            #expect(r.stderr.contains("policy oci-restricted requires namespaces"), "\(r.stderr)")
        }

        @Test("an ordinary user under oci keeps its limits: no capability beyond the policy's, no host uts, not without a user namespace",
              .enabled(if: Harness.ordinaryUser != nil && Harness.userNamespacesWork, "needs the ordinary user and user namespaces"))
        func ordinaryUserKeepsLimits() throws {
            let b = try OCIBundle("ordinary-limits", as: .ordinary, rootless: true, args: ["true"])
            defer { b.cleanup() }
            let plain = b.config
            var p = b.process
            p["capabilities"] = ["bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]]
            b.process = p
            try b.write()
            let caps = try b.envyro(["run", "--bundle", b.bundle.path, b.newID("caps")])
            #expect(caps.status == 1)
            #expect(caps.stderr.contains("CAP_SYS_ADMIN, which policy oci does not allow"), "\(caps.stderr)")
            b.config = plain
            var linux = b.linux
            linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "uts" }
            b.linux = linux
            b.config.removeValue(forKey: "hostname")
            try b.write()
            let uts = try b.envyro(["run", "--bundle", b.bundle.path, b.newID("uts")])
            #expect(uts.status == 1)
            #expect(uts.stderr.contains("policy oci requires namespaces"), "\(uts.stderr)")
            var l2 = plain["linux"] as? [String: Any] ?? [:]
            l2["namespaces"] = (l2["namespaces"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "user" }
            l2.removeValue(forKey: "uidMappings")
            l2.removeValue(forKey: "gidMappings")
            b.config = plain
            b.linux = l2
            try b.write()
            let nouser = try b.envyro(["run", "--bundle", b.bundle.path, b.newID("nouser")])
            #expect(nouser.status == 1)
            #expect(nouser.stderr.contains("only root may ask for that"), "\(nouser.stderr)")
        }

        // MARK: - the bundle's seccomp filter

        /// A profile written before Linux 5.9 (docker's of that time): an allow-list of the older
        /// syscalls (the default profile's, less every one added since 5.1), defaultAction ERRNO.
        static func oldProfile() throws -> [String: Any] {
            let url = Harness.repoRoot.appendingPathComponent("policy/seccomp/default.json")
            let d = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
            var names = Set<String>()
            for rule in d["syscalls"] as? [[String: Any]] ?? [] where rule["action"] as? String == "SCMP_ACT_ALLOW" {
                names.formUnion(rule["names"] as? [String] ?? [])
            }
            let newer: Set<String> = ["clone3", "close_range", "openat2", "faccessat2", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
                                      "epoll_pwait2", "process_madvise", "mount_setattr", "landlock_create_ruleset", "landlock_add_rule",
                                      "landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv", "set_mempolicy_home_node",
                                      "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue", "statmount",
                                      "listmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal", "io_uring_setup",
                                      "io_uring_enter", "io_uring_register"]
            return ["defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "syscalls": [["names": names.subtracting(newer).sorted(), "action": "SCMP_ACT_ALLOW"]]]
        }

        @Test("a pre-5.9 seccomp profile without noNewPrivileges: create, start and exec work under it, as with crun",
              arguments: ["oci", "oci-restricted"])
        func oldSeccompProfile(_ policy: String) throws {
            let b = try OCIBundle("old-seccomp", args: ["sh", "-c", "echo started; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; sleep 60"])
            defer { b.cleanup() }
            var linux = b.linux
            linux["seccomp"] = try Self.oldProfile()
            b.linux = linux
            var p = b.process
            p.removeValue(forKey: "noNewPrivileges")
            b.process = p
            try b.write()
            var outputs: [OCIRef.Runtime: String] = [:]
            for runtime in OCIRef.withCrun where runtime.available {
                let id = b.newID("seccomp-\(runtime)")
                defer { OCIRef.cleanup(b, [id]) }
                let out = b.dir.appendingPathComponent("out-\(runtime)").path
                let global = runtime == .envyro ? ["--policy", policy] : []
                // The container's stdout is a file: `create` hands it on.
                let c = try OCIRef.run(runtime, b, global + ["create", "--bundle", b.bundle.path, id], env: [:], stdout: out)
                #expect(c.status == 0, "\(runtime): \(c.stderr)")
                #expect(try OCIRef.run(runtime, b, global + ["start", id]).status == 0)
                #expect(OCIRunner.wait(10) { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("NoNewPrivs") })
                let e = try OCIRef.run(runtime, b, global + ["exec", id, "sh", "-c", "echo exec; grep -E '^NoNewPrivs:' /proc/self/status"])
                #expect(e.status == 0, "\(runtime) exec: \(e.stderr)")
                #expect(e.stdout.hasPrefix("exec\n"), "\(runtime) exec: \(e.stdout)")
                outputs[runtime] = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") + e.stdout
            }
            #expect(outputs[.envyro]?.hasPrefix("started\n") == true, "\(outputs[.envyro] ?? "")")
            #expect(outputs[.envyro]?.contains("NoNewPrivs:\t0") == true)
            if OCIRef.crunAvailable && policy == "oci" { #expect(outputs[.envyro] == outputs[.crun]) }
        }
    }
}
