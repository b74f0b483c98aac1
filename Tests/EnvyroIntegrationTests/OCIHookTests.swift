import Foundation
import Testing

/// OCI hooks (issue 17, item "Hooks"): every hook is bounded in time and its process group
/// killed when it overruns, a failing hook of any kind fails its operation and leaves nothing
/// behind, and the hooks run in crun's order. Every command here is itself bounded (the
/// runner kills it after its timeout), so no test can hang.
extension Integration {
    @Suite("OCI hooks", .serialized, .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
    struct OCIHookTests {
        /// A hook that runs `script` with /bin/sh: the path exists on the host and in the bundle's
        /// busybox rootfs, so crun's hooks that run inside the container find it too.
        /// The script reads its state first (unless it reads it itself): crun writes the state
        /// after starting a hook and dies of SIGPIPE when the hook has already exited.
        static func hook(_ script: String, timeout: Int? = nil, readsState: Bool = false) -> [String: Any] {
            var h: [String: Any] = ["path": "/bin/sh", "args": ["sh", "-c", readsState ? script : "cat > /dev/null; " + script]]
            if let timeout { h["timeout"] = timeout }
            return h
        }

        /// What a failed create or start may not leave: the container's process, its state, its cgroup.
        static func expectNothingLeft(_ b: OCIBundle, _ id: String, pid: Int32?, cgroups: [String], runtime: OCIRef.Runtime = .envyro,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try OCIRef.status(runtime, b, id) == nil, "the container is still known", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: OCIRef.stateRoot(runtime, b) + "/" + id), "state dir left", sourceLocation: sourceLocation)
            if let pid { #expect(OCIRunner.wait(5) { !OCIRunner.alive(pid) }, "process \(pid) left", sourceLocation: sourceLocation) }
            #expect(OCIRunner.wait(5) { processesLeft(b).isEmpty }, "container processes left: \(processesLeft(b))", sourceLocation: sourceLocation)
            for dir in cgroups {
                #expect(OCIRunner.wait(5) { !FileManager.default.fileExists(atPath: dir) }, "cgroup \(dir) left", sourceLocation: sourceLocation)
            }
        }

        /// Processes running the bundle's workload (its marker argument).
        static func processesLeft(_ b: OCIBundle) -> [Int32] {
            OCIRef.processes(marker: "hook-workload-" + b.dir.lastPathComponent)
        }

        static func bundle(_ name: String) throws -> OCIBundle {
            let b = try OCIBundle(name)
            b.process["args"] = ["sleep", "60", "hook-workload-" + b.dir.lastPathComponent]
            try b.write()
            return b
        }

        // MARK: - bounded

        @Test("a hung hook is killed at its timeout with its whole process group, and create fails leaving nothing")
        func hungHook() throws {
            let b = try Self.bundle("hook-hung")
            let id = b.newID("hung")
            defer { b.cleanup() }
            let marker = "9\(Int.random(in: 100...999)).\(Int.random(in: 100...999))"
            b.config["hooks"] = ["createRuntime": [Self.hook("sleep \(marker) & wait", timeout: 1)]]
            try b.write()
            let r = try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id], timeout: 30)
            #expect(r.status == 1, "\(r.stderr)")
            #expect(r.stderr.contains("createRuntime hook #0 (/bin/sh) failed: timed out after 1 s; its process group was killed"), "\(r.stderr)")
            // The hook's child, in its group, went with it.
            #expect(OCIRunner.wait(5) { OCIRef.processes(marker: marker).isEmpty })
            try Self.expectNothingLeft(b, id, pid: nil, cgroups: [])
        }

        @Test("a hook without a timeout is bounded all the same (the default bound, 120 s; ENVYRO_OCI_HOOK_TIMEOUT here)")
        func defaultBound() throws {
            let b = try Self.bundle("hook-default")
            let id = b.newID("default")
            defer { b.cleanup() }
            b.config["hooks"] = ["createContainer": [Self.hook("sleep 1000")]]
            try b.write()
            let r = try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id], env: ["ENVYRO_OCI_HOOK_TIMEOUT": "2"], timeout: 30)
            #expect(r.status == 1)
            #expect(r.stderr.contains("timed out after 2 s (the default bound for a hook without a timeout)"), "\(r.stderr)")
            try Self.expectNothingLeft(b, id, pid: nil, cgroups: [])
        }

        @Test("a poststart hook past its timeout fails start and leaves nothing")
        func hungPoststart() throws {
            let b = try Self.bundle("hook-hung-poststart")
            let id = b.newID("hung-ps")
            defer { b.cleanup() }
            b.config["hooks"] = ["poststart": [Self.hook("sleep 1000", timeout: 1)]]
            try b.write()
            #expect(try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id]).status == 0)
            let pid = try b.pid(id)
            let cgroups = OCIRef.cgroupDirectories(of: pid).filter { $0.contains("oci-") }
            let r = try OCIRef.run(.envyro, b, ["start", id], timeout: 30)
            #expect(r.status == 1)
            #expect(r.stderr.contains("poststart hook #0 (/bin/sh) failed: timed out after 1 s"), "\(r.stderr)")
            try Self.expectNothingLeft(b, id, pid: pid, cgroups: cgroups)
        }

        // MARK: - failing hooks, every kind, beside crun

        @Test("a failing prestart, createRuntime or createContainer hook fails create, as with crun, and leaves nothing",
              arguments: ["prestart", "createRuntime", "createContainer"])
        func failingCreateHook(_ kind: String) throws {
            let b = try Self.bundle("hook-fail-\(kind)")
            let id = b.newID("f")
            defer { OCIRef.cleanup(b, [id]); b.cleanup() }
            b.config["hooks"] = [kind: [Self.hook("exit 3")]]
            try b.write()
            for runtime in OCIRef.withCrun where runtime.available {
                let r = try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id], timeout: 30)
                #expect(r.status != 0, "\(runtime): create succeeded")
                try Self.expectNothingLeft(b, id, pid: nil, cgroups: [], runtime: runtime)
            }
            let r = try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id], timeout: 30)
            #expect(r.stderr.contains("\(kind == "prestart" ? "createRuntime" : kind) hook #0 (/bin/sh) failed: exit status 3"), "\(r.stderr)")
        }

        @Test("a failing startContainer or poststart hook fails start and leaves no process, state or cgroup (runc and crun: the workload never runs)",
              arguments: ["startContainer", "poststart"])
        func failingStartHook(_ kind: String) throws {
            let b = try Self.bundle("hook-fail-\(kind)")
            let id = b.newID("f")
            defer { OCIRef.cleanup(b, [id]); b.cleanup() }
            b.config["hooks"] = [kind: [Self.hook("exit 3")]]
            try b.write()
            // Beside runc and crun, which both run startContainer in the container's process after
            // `start` returned 0 (the process exits instead of exec'ing the workload): envyro runs it
            // before letting the container go, so `start` itself fails. A failing poststart hook
            // fails runc (1.1 runs poststart already in `create`); crun only warns about it (the one
            // that differs from envyro). Wherever it fails, the workload never runs on.
            for runtime in [OCIRef.Runtime.envyro, .runc, .crun] where runtime.available {
                let c = try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id], timeout: 30)
                let s = c.status == 0 ? try OCIRef.run(runtime, b, ["start", id], timeout: 30) : c
                if runtime == .envyro || (runtime == .runc && kind == "poststart") {
                    #expect(s.status != 0, "\(runtime): create and start succeeded")
                }
                if !(runtime == .crun && kind == "poststart") {
                    #expect(OCIRunner.wait(5) { Self.processesLeft(b).isEmpty }, "\(runtime): the workload runs")
                }
                if runtime == .envyro {
                    #expect(c.status == 0)
                    #expect(s.stderr.contains("\(kind) hook #0 (/bin/sh) failed: exit status 3"), "\(s.stderr)")
                }
                _ = try OCIRef.run(runtime, b, ["delete", "--force", id], timeout: 30)
            }
            // envyro leaves nothing without the delete: create and start again, look before any delete.
            let id2 = b.newID("g")
            #expect(try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id2]).status == 0)
            let pid = try b.pid(id2)
            let cgroups = OCIRef.cgroupDirectories(of: pid).filter { $0.contains("oci-") }
            #expect(!cgroups.isEmpty || !Harness.isRoot, "the container has a cgroup of its own")
            #expect(try OCIRef.run(.envyro, b, ["start", id2], timeout: 30).status == 1)
            try Self.expectNothingLeft(b, id2, pid: pid, cgroups: cgroups)
        }

        @Test("a failing poststop hook is a warning: delete succeeds and removes the container, as with crun")
        func failingPoststop() throws {
            let b = try Self.bundle("hook-fail-poststop")
            let id = b.newID("f")
            defer { OCIRef.cleanup(b, [id]); b.cleanup() }
            b.config["hooks"] = ["poststop": [Self.hook("exit 3")]]
            try b.write()
            for runtime in OCIRef.withCrun where runtime.available {
                #expect(try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id]).status == 0)
                let d = try OCIRef.run(runtime, b, ["delete", "--force", id], timeout: 30)
                #expect(d.status == 0, "\(runtime): \(d.stderr)")
                try Self.expectNothingLeft(b, id, pid: nil, cgroups: [], runtime: runtime)
            }
        }

        // MARK: - where

        @Test("createRuntime and createContainer run with the container's mounts made and before pivot_root (createRuntime as with crun)")
        func whereHooksRun() throws {
            let b = try Self.bundle("hook-where")
            defer { b.cleanup() }
            let log = b.dir.appendingPathComponent("where").path
            let rootfs = b.rootfs.path
            var hooks: [String: Any] = [:]
            // From the state on stdin: the container's pid; then where its root is and whether its
            // /proc (the bundle's first mount) is mounted, as the host sees them.
            for kind in ["createRuntime", "createContainer"] {
                hooks[kind] = [Self.hook("""
                    state=$(cat); pid=$(echo "$state" | sed 's/.*"pid": *\\([0-9]*\\).*/\\1/')
                    echo "\(kind) root=$(readlink /proc/$pid/root) proc-mounted=$(grep -c " \(rootfs)/proc " /proc/$pid/mountinfo)" >> \(log)
                    """, timeout: 10, readsState: true)]
            }
            b.config["hooks"] = hooks
            try b.write()
            var seen: [OCIRef.Runtime: String] = [:]
            for runtime in OCIRef.withCrun where runtime.available {
                let id = b.newID("where-\(runtime)")
                defer { OCIRef.cleanup(b, [id]) }
                try? FileManager.default.removeItem(atPath: log)
                let c = try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id], timeout: 30)
                #expect(c.status == 0, "\(runtime): \(c.stderr)")
                seen[runtime] = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            }
            print("hooks saw: \(seen)")
            #expect(seen[.envyro] == "createRuntime root=/ proc-mounted=1\ncreateContainer root=/ proc-mounted=1\n")
            // crun runs createContainer inside the container's namespaces (the spec's wording), where
            // the host's /proc/PID is not found; envyro runs it in the runtime's, as createRuntime.
            if OCIRef.crunAvailable {
                #expect(seen[.envyro]?.split(separator: "\n").first == seen[.crun]?.split(separator: "\n").first)
            }
        }

        // MARK: - order

        @Test("hooks run in crun's order: each appends its kind to a file both runtimes' hooks can reach")
        func order() throws {
            guard OCIRef.crunAvailable else { print("skipped: crun is not installed"); return }
            let b = try Self.bundle("hook-order")
            b.process["args"] = ["true"]
            defer { b.cleanup() }
            // The log directory is bound into the container at the same path: hooks that run in the
            // container's mount namespace (crun's createContainer, startContainer) reach it too.
            let logs = b.dir.appendingPathComponent("hook-logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            var mounts = b.config["mounts"] as? [[String: Any]] ?? []
            mounts.append(["destination": logs.path, "type": "bind", "source": logs.path, "options": ["rbind", "rw"]])
            b.config["mounts"] = mounts
            var hooks: [String: Any] = [:]
            for kind in ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
                hooks[kind] = [Self.hook("echo \(kind) >> \(logs.path)/order", timeout: 10)]
            }
            b.config["hooks"] = hooks
            try b.write()
            var orders: [OCIRef.Runtime: [String]] = [:]
            for runtime in OCIRef.withCrun {
                let id = b.newID("order-\(runtime)")
                defer { OCIRef.cleanup(b, [id]) }
                try? FileManager.default.removeItem(at: logs.appendingPathComponent("order"))
                #expect(try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id], timeout: 30).status == 0)
                let s = try OCIRef.run(runtime, b, ["start", id], timeout: 30)
                #expect(s.status == 0, "\(runtime): \(s.stderr)")
                #expect(OCIRunner.wait(10) { (try? OCIRef.status(runtime, b, id)) == "stopped" })
                #expect(try OCIRef.run(runtime, b, ["delete", id], timeout: 30).status == 0)
                orders[runtime] = ((try? String(contentsOf: logs.appendingPathComponent("order"), encoding: .utf8)) ?? "")
                    .split(separator: "\n").map(String.init)
            }
            print("hook order: envyro \(orders[.envyro] ?? []), crun \(orders[.crun] ?? [])")
            // The spec's order. crun runs startContainer in the container's process after `start`
            // has let it go, concurrently with its own poststart: there the two may come either way
            // round; everything else is crun's order exactly.
            #expect(orders[.envyro] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
            #expect(orders[.envyro]?.filter { $0 != "startContainer" } == orders[.crun]?.filter { $0 != "startContainer" })
            #expect(orders[.crun]?.contains("startContainer") == true)
        }
    }
}
