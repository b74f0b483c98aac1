import Foundation
import Testing

/// runc's command line as engines and people use it (issue 17, item "CLI"): `envyro-runc`
/// answers every runc command and flag with no envyro-specific one, from any working
/// directory; each behaviour is compared with crun's on the same bundle where crun has it.
extension Integration {
    @Suite("OCI command line", .serialized)
    struct OCICLITests {
        static let commands = ["create", "start", "state", "kill", "delete", "run", "exec", "pause", "resume", "ps", "events",
                               "update", "features", "spec", "list", "checkpoint", "restore"]

        @Test("every runc command answers --help (and -h) with its usage, touching nothing", arguments: commands)
        func help(_ command: String) throws {
            let dir = Harness.scratchDirectory("help")
            defer { try? FileManager.default.removeItem(at: dir) }
            let root = dir.appendingPathComponent("state").path
            for flag in ["--help", "-h"] {
                let r = try OCIRef.spawn([OCIRef.envyroRunc, "--root", root, command, flag], cwd: dir.path, env: [:], scratch: dir, timeout: 30)
                #expect(r.status == 0, "\(command) \(flag): \(r.stderr)")
                #expect(r.stdout.contains("USAGE:\n   envyro-runc \(command) "), "\(r.stdout)")
            }
            // runc's `help COMMAND` too.
            let h = try OCIRef.spawn([OCIRef.envyroRunc, "--root", root, "help", command], cwd: dir.path, env: [:], scratch: dir, timeout: 30)
            #expect(h.status == 0 && h.stdout.contains("USAGE:\n   envyro-runc \(command) "), "help \(command): \(h.stderr)")
            // Help names no container: the state directory was not even made.
            #expect(!FileManager.default.fileExists(atPath: root))
        }

        @Test("checkpoint and restore are refused by name, and --help says so")
        func checkpointRefused() throws {
            let dir = Harness.scratchDirectory("ckpt")
            defer { try? FileManager.default.removeItem(at: dir) }
            for command in ["checkpoint", "restore"] {
                let r = try OCIRef.spawn([OCIRef.envyroRunc, "--root", dir.path + "/s", command, "x"], cwd: dir.path, env: [:], scratch: dir, timeout: 30)
                #expect(r.status == 1)
                #expect(r.stderr.contains("\(command): not supported by envyro (no CRIU)"), "\(r.stderr)")
                let h = try OCIRef.spawn([OCIRef.envyroRunc, command, "--help"], cwd: dir.path, env: [:], scratch: dir, timeout: 30)
                #expect(h.stdout.contains("not supported by envyro"))
            }
        }

        @Test("--version prints runc's layout under the runtime's name")
        func version() throws {
            let dir = Harness.scratchDirectory("version")
            defer { try? FileManager.default.removeItem(at: dir) }
            let r = try OCIRef.spawn([OCIRef.envyroRunc, "--version"], cwd: "/", env: [:], scratch: dir, timeout: 30)
            #expect(r.status == 0)
            let lines = r.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("envyro version ") == true)
            #expect(lines.contains { $0.hasPrefix("spec: ") })
        }

        @Test("container ids follow runc's rule and message; runc refuses the same ids", .enabled(if: Harness.isRoot, "needs root"),
              arguments: ["a/b", "..", ".", "a b", "a%b", "a:b"])
        func invalidIDs(_ id: String) throws {
            let b = try OCIBundle("ids")
            defer { b.cleanup() }
            for command in [["create", "--bundle", b.bundle.path, id], ["state", id], ["kill", id, "KILL"], ["delete", id]] {
                let r = try OCIRef.run(.envyro, b, command)
                #expect(r.status == 1, "\(command)")
                #expect(r.stderr.contains("invalid container ID format: \(id)"), "\(command): \(r.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: b.stateRoot + "/" + id) || id == "." || id == "..")
            // runc's regexp is ^[\w+-\.]+$: crun (which takes any name its state directory can hold)
            // is looser; runc is the reference for the message.
            if FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc") {
                let r = try OCIRef.spawn(["/usr/sbin/runc", "--root", b.dir.path + "/runc-state", "state", id], cwd: b.dir.path,
                                         env: [:], scratch: b.dir, timeout: 30)
                #expect(r.status == 1)
                #expect(r.stderr.contains("invalid container ID format"), "runc: \(r.stderr)")
            }
        }

        @Test("ids runc accepts are accepted, commas included (its [+-.] is a range)", .enabled(if: Harness.isRoot, "needs root"),
              arguments: ["a,b", "A_b+c-d.e", "x"])
        func validIDs(_ id: String) throws {
            let b = try OCIBundle("ids-ok")
            b.ids.append(id)   // deleted by cleanup, before the scratch directory goes
            defer { b.cleanup() }
            let c = try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id])
            #expect(c.status == 0, "\(c.stderr)")
            #expect(try OCIRef.status(.envyro, b, id) == "created")
        }

        @Test("state of a container whose process exited says stopped, as crun's does", .enabled(if: Harness.isRoot, "needs root"),
              arguments: OCIRef.withCrun)
        func stateOfStopped(_ runtime: OCIRef.Runtime) throws {
            if !runtime.available { print("skipped: \(runtime) is not installed"); return }
            let b = try OCIBundle("stopped", args: ["true"])
            let id = b.newID("stopped")
            defer { OCIRef.cleanup(b, [id]); b.cleanup() }
            #expect(try OCIRef.run(runtime, b, ["create", "--bundle", b.bundle.path, id]).status == 0)
            #expect(try OCIRef.run(runtime, b, ["start", id]).status == 0)
            #expect(OCIRunner.wait(10) { (try? OCIRef.status(runtime, b, id)) == "stopped" })
            let r = try OCIRef.run(runtime, b, ["state", id])
            let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(j?["status"] as? String == "stopped")
            #expect(j?["id"] as? String == id)
            #expect(try OCIRef.run(runtime, b, ["delete", id]).status == 0)
            #expect(try OCIRef.status(runtime, b, id) == nil)
        }

        @Test("run --keep leaves the stopped container for state and delete; without it run deletes it (as runc: crun 1.8 has no --keep)",
              .enabled(if: Harness.isRoot, "needs root"), arguments: OCIRef.withRunc)
        func runKeep(_ runtime: OCIRef.Runtime) throws {
            if !runtime.available { print("skipped: \(runtime) is not installed"); return }
            let b = try OCIBundle("keep", args: ["sh", "-c", "exit 3"])
            let kept = b.newID("kept"), gone = b.newID("gone")
            defer { OCIRef.cleanup(b, [kept, gone]); b.cleanup() }
            let r = try OCIRef.run(runtime, b, ["run", "--keep", "--bundle", b.bundle.path, kept])
            #expect(r.status == 3, "\(r.stderr)")
            #expect(try OCIRef.status(runtime, b, kept) == "stopped")
            #expect(try OCIRef.run(runtime, b, ["delete", kept]).status == 0)
            let r2 = try OCIRef.run(runtime, b, ["run", "--bundle", b.bundle.path, gone])
            #expect(r2.status == 3)
            #expect(try OCIRef.status(runtime, b, gone) == nil)
        }

        @Test("delete takes several ids; one that fails is named and the others are still deleted", .enabled(if: Harness.isRoot, "needs root"))
        func deleteSeveral() throws {
            let b = try OCIBundle("delete-many")
            let ids = [b.newID("d1"), b.newID("d2"), b.newID("d3")]
            defer { b.cleanup() }
            for id in ids { #expect(try OCIRef.run(.envyro, b, ["create", "--bundle", b.bundle.path, id]).status == 0) }
            let pids = try ids.map { try b.pid($0) }
            // A created container may be deleted without --force; a missing id fails the command.
            let r = try OCIRef.run(.envyro, b, ["delete", ids[0], "no-such-container", ids[1]])
            #expect(r.status == 1)
            #expect(r.stderr.contains("container \"no-such-container\" does not exist"), "\(r.stderr)")
            #expect(try OCIRef.status(.envyro, b, ids[0]) == nil)
            #expect(try OCIRef.status(.envyro, b, ids[1]) == nil)
            // --force: a running one is killed, a missing one ignored.
            #expect(try OCIRef.run(.envyro, b, ["start", ids[2]]).status == 0)
            let f = try OCIRef.run(.envyro, b, ["delete", "--force", "no-such-container", ids[2]])
            #expect(f.status == 0, "\(f.stderr)")
            #expect(try OCIRef.status(.envyro, b, ids[2]) == nil)
            #expect(OCIRunner.wait(5) { pids.allSatisfy { !OCIRunner.alive($0) } })
        }

        @Test("every command works from any working directory: relative --bundle and --pid-file are the caller's (as runc; crun 1.8 writes a relative pid file in the bundle)",
              .enabled(if: Harness.isRoot, "needs root"), arguments: OCIRef.withRunc)
        func anyWorkingDirectory(_ runtime: OCIRef.Runtime) throws {
            if !runtime.available { print("skipped: \(runtime) is not installed"); return }
            let b = try OCIBundle("cwd")
            let id = b.newID("cwd")
            defer { OCIRef.cleanup(b, [id]); b.cleanup() }
            // From the scratch directory, with relative paths; the rest from /.
            let c = try OCIRef.run(runtime, b, ["create", "--bundle", "bundle", "--pid-file", "pidfile", id], cwd: b.dir.path)
            #expect(c.status == 0, "\(c.stderr)")
            let pid = Int32((try? String(contentsOfFile: b.dir.appendingPathComponent("pidfile").path, encoding: .utf8)) ?? "") ?? 0
            #expect(pid > 0 && OCIRunner.alive(pid))
            #expect(try OCIRef.run(runtime, b, ["start", id], cwd: "/").status == 0)
            #expect(try OCIRef.run(runtime, b, ["exec", id, "true"], cwd: "/").status == 0)
            #expect(try OCIRef.run(runtime, b, ["kill", id, "KILL"], cwd: "/").status == 0)
            #expect(OCIRunner.wait(10) { !OCIRunner.alive(pid) })
            #expect(try OCIRef.run(runtime, b, ["delete", id], cwd: "/").status == 0)
            // run with no --bundle: the working directory is the bundle.
            let id2 = b.newID("cwd-run")
            b.process["args"] = ["true"]
            try b.write()
            defer { OCIRef.cleanup(b, [id2]) }
            #expect(try OCIRef.run(runtime, b, ["run", id2], cwd: b.bundle.path).status == 0)
        }

        @Test("`envyro kill ID KILL` is runc's kill, not the supervisor's: a missing container is named, with where to look",
              .enabled(if: Harness.isRoot, "needs root"))
        func envyroNameKill() throws {
            let r = try Harness.envyro(["kill", "no-such-oci-container", "KILL"])
            #expect(r.status == 1)
            #expect(!r.stderr.contains("is invalid"), "\(r.stderr)")
            #expect(r.stderr.contains("container \"no-such-oci-container\" does not exist"), "\(r.stderr)")
            #expect(r.stderr.contains("envyro-runc --root"), "\(r.stderr)")
            // With --root it signals the container.
            let b = try OCIBundle("envyro-kill")
            let id = b.newID("k")
            defer { b.cleanup() }
            #expect(try b.envyro(["run", "--detach", "--bundle", b.bundle.path, id]).status == 0)
            let pid = try b.pid(id)
            #expect(try Harness.envyro(["--root", b.stateRoot, "kill", id, "KILL"]).status == 0)
            #expect(OCIRunner.wait(10) { !OCIRunner.alive(pid) })
        }
    }
}
