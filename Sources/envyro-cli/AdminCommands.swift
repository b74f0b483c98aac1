import ArgumentParser
import CEnvyro
import CEnvyroCLI
import EnvyroAudit
import EnvyroClient
import EnvyroSupervisor
import EnvyroSystem
import Glibc

// `envyro setup`, `gc`, `executors` and `audit`: the commands around runs.

struct Setup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "As root, once per user: delegate a cgroup subtree so that user's runs can have limits.")

    @Option(name: .long, help: "The user (name or uid) to delegate a cgroup subtree to.")
    var user: String

    func run() throws {
        envyro_cli_unblock_signals()
        // The privileged work is done by the helper binary (helpers/), not by the CLI.
        let helper = EmbeddedSupervisor.locateHelper(executablePath: Files.executablePath())
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("--setup-user"), strdup(user), nil]
        defer { for p in argv { free(p) } }
        execv(helper, &argv)
        complain("cannot run \(helper): \(SystemError.current("execv", helper))")
        throw ExitCode(125)
    }
}

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove container cgroups left behind by envyro processes or helpers that were killed, and a killed supervisor's socket and policy snapshot.")

    @Option(name: .long, help: "Policy whose helper does the work.")
    var policy: String = "default"

    @Option(name: .long, help: "The supervisor socket to check (default: the per-user one).")
    var supervisor: String?

    func run() async throws {
        envyro_cli_unblock_signals()
        let embedded = EmbeddedSupervisor(policy: policy)
        let socketPath = supervisor ?? ClientProtocol.defaultSocketPath()
        // Never clean another user's directory: a /tmp/envyro-UID someone else made is left alone.
        let dir = Files.directory(of: socketPath)
        let safe = Files.kind(dir) == .missing || RuntimeDirectory.refusal(dir, uid: getuid()) == nil
        if !safe, let why = RuntimeDirectory.refusal(dir, uid: getuid()) { complain("warning: not cleaning \(dir): \(why)") }
        do {
            let removed = try embedded.collectGarbage()
                + (safe ? SupervisorDaemon.removeLeftovers(socketPath: socketPath) : [])
            print(removed.isEmpty ? "nothing to remove" : removed.map { "removed \($0)" }.joined(separator: "\n"))
        } catch {
            complain(error.description)
            throw ExitCode(error.exitCode)
        }
    }
}

struct Executors: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the executor types `envyro run --executor` accepts: the built-in ones and the policy's plugins.")

    @Option(name: .long, help: "The policy (name or file) whose plugins and allowed types to list.")
    var policy: String = "default"

    func run() throws {
        envyro_cli_unblock_signals()
        let embedded = EmbeddedSupervisor(policy: policy)
        let loaded: LoadedPolicy
        do { loaded = try embedded.engine.policies.get(policy) } catch {
            complain("\(error)")
            throw ExitCode(125)
        }
        for info in embedded.engine.executors.list() {
            let refused = loaded.policy.executors.allows(info.type) ? "" : " (not allowed by policy \(loaded.policy.name))"
            print("\(info.type)\t\(info.summary)\(refused)")
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the helper's audit log.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an audit log's hash chain and, for a keyed log, each line's HMAC; print OK or the first broken line.",
            discussion: """
                A keyed log (written by envyro-nshelper) ends each line in an HMAC-SHA256 under the key \
                in the log's directory (audit.key, readable only by its owner): only then can a line \
                appended by someone without the key be told from the helper's. An unkeyed log is a \
                SHA-256 chain only, which anyone who can append to the file can extend. \
                Exit status: 0 verified, 1 broken, 2 keyed but the key can't be read.
                """)

        @Option(help: "The audit key (default: audit.key beside the newest file).")
        var key: String?

        @Argument(help: "Audit log files, oldest first.")
        var files: [String]

        func run() throws {
            envyro_cli_unblock_signals()
            guard let newest = files.last else {
                print("envyro audit verify: name at least one audit log file (oldest first), e.g. ~/.local/state/envyro/audit.jsonl")
                throw ExitCode(64)
            }
            let keyPath = key ?? AuditKey.defaultPath(forLog: newest)
            var keyError: AuditKeyError? = nil
            var loaded: AuditKey? = nil
            if key != nil || Files.kind(keyPath) != .missing {
                do { loaded = try AuditKey.load(path: keyPath, owner: nil) } catch { keyError = error }
            }
            let r = AuditVerifier.verify(files: files, key: loaded)
            switch r.outcome {
            case .broken(let file, let line, let reason):
                print("BROKEN: \(file):\(line): \(reason)")
                throw ExitCode(1)
            case .ok(let lines):
                let unkeyed = "unkeyed (SHA-256 chain only): anyone who can append can forge"
                if r.keyedLines == 0 {
                    print("OK: \(lines) lines, chain intact; \(unkeyed)")
                    if loaded != nil || keyError != nil {
                        print("warning: a key exists at \(keyPath) but no line is keyed: this log was not written with it, or its MACs were stripped")
                    }
                    return
                }
                guard let loaded else {
                    let why = keyError.map { $0.reason } ?? "it does not exist"
                    print("UNVERIFIED: \(lines) lines, chain intact, but \(r.keyedLines) lines are keyed (HMAC-SHA256) and the key \(keyPath) can't be used: \(why). Run as the key's owner (or root), or pass --key FILE.")
                    throw ExitCode(2)
                }
                if r.unkeyedLines > 0 {
                    print("OK: \(lines) lines, chain intact; the first \(r.unkeyedLines) are \(unkeyed); the \(r.keyedLines) after them are keyed (HMAC-SHA256, key \(loaded.path)): verified")
                } else {
                    print("OK: \(lines) lines, chain intact; keyed (HMAC-SHA256, key \(loaded.path)): verified")
                }
            }
        }
    }
}
