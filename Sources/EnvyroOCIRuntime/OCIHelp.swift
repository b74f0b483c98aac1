// `COMMAND --help` for every runc command, in runc's layout (NAME, USAGE, OPTIONS): engines and
// people read them, and `--help` must never be taken for an id or run anything.

/// The help text of each OCI command.
enum OCIHelp {
    /// (summary, usage after the command name, option lines) per command.
    static let commands: [String: (summary: String, usage: String, options: [String])] = [
        "create": ("create a container, held before its process runs until `start`", "[command options] <container-id>", [
            "--bundle value, -b value  path to the root of the bundle directory, defaults to the current directory",
            "--console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal",
            "--pid-file value          specify the file to write the process id to",
            "--no-pivot                accepted; envyro always uses pivot_root",
            "--no-new-keyring          accepted; envyro does not create a session keyring",
            "--preserve-fds value      only 0 (the default): envyro passes stdio only",
        ]),
        "start": ("executes the user defined process in a created container", "<container-id>", []),
        "state": ("output the state of a container (a stopped one is \"stopped\")", "<container-id>", []),
        "kill": ("kill sends the specified signal (default: SIGTERM) to the container's init process", "[command options] <container-id> [signal]", [
            "--all, -a  send the specified signal to all processes inside the container",
        ]),
        "delete": ("delete any resources held by the container", "[command options] <container-id> [<container-id>...]", [
            "--force, -f  Forcibly deletes the container if it is still running (uses SIGKILL); ids that do not exist are ignored",
        ]),
        "run": ("create and run a container", "[command options] <container-id>", [
            "--bundle value, -b value  path to the root of the bundle directory, defaults to the current directory",
            "--console-socket value    path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal",
            "--detach, -d              detach from the container's process",
            "--keep                    do not delete the container after it exits",
            "--pid-file value          specify the file to write the process id to",
            "--no-subreaper            accepted; envyro reaps the container itself",
            "--no-pivot                accepted; envyro always uses pivot_root",
            "--no-new-keyring          accepted; envyro does not create a session keyring",
            "--preserve-fds value      only 0 (the default): envyro passes stdio only",
        ]),
        "exec": ("execute new process inside the container", "[command options] <container-id> <command> [command options]  || -p process.json <container-id>", [
            "--console-socket value             path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal",
            "--cwd value                        current working directory in the container",
            "--env value, -e value              set environment variables",
            "--tty, -t                          allocate a pseudo-TTY",
            "--user value, -u value             UID (format: <uid>[:<gid>])",
            "--additional-gids value, -g value  additional gids",
            "--process value, -p value          path to the process.json",
            "--detach, -d                       detach from the container's process",
            "--pid-file value                   specify the file to write the process id to",
            "--no-new-privs                     set the no new privileges value for the process",
            "--cap value, -c value              add a capability to the bounding set for the process",
            "--ignore-paused                    accepted (exec into a paused container is refused)",
            "--process-label, --apparmor, --cgroup, --preserve-fds N>0: refused (not supported by envyro)",
        ]),
        "pause": ("pause suspends all processes inside the container", "<container-id>", []),
        "resume": ("resumes all processes that have been previously paused", "<container-id>", []),
        "ps": ("ps displays the processes running inside a container", "[command options] <container-id> [ps options]", [
            "--format value, -f value  select one of: table or json (default: \"table\")",
        ]),
        "events": ("not supported by envyro (read the container's cgroup, or `state`)", "[command options] <container-id>", []),
        "update": ("update container resource constraints", "[command options] <container-id>", [
            "--resources value, -r value  path to the file containing the resources to update or '-' to read from the standard input",
            "--memory, --memory-swap, --memory-reservation, --kernel-memory, --kernel-memory-tcp, --pids-limit,",
            "--cpu-quota, --cpu-period, --cpu-share, --cpuset-cpus, --cpuset-mems, --blkio-weight,",
            "--cpu-rt-period, --cpu-rt-runtime, --cpu-idle value   one limit each, as runc",
        ]),
        "features": ("show the enabled features (the runtime-spec features document)", "[arguments...]", []),
        "spec": ("create a new specification file", "[command options] [arguments...]", [
            "--bundle value, -b value  path to the root of the bundle directory",
            "--rootless                generate a configuration for a rootless container",
        ]),
        "list": ("lists containers started by envyro with the given root", "[command options]", [
            "--format value, -f value  select one of: table or json (default: \"table\")",
            "--quiet, -q               display only container IDs",
        ]),
        "checkpoint": ("not supported by envyro (no CRIU): every checkpoint is refused", "[command options] <container-id>", []),
        "restore": ("not supported by envyro (no CRIU): every restore is refused", "[command options] <container-id>", []),
    ]

    /// The help of `command` under the program name `program`, or nil for an unknown command.
    static func text(_ command: String, program: String) -> String? {
        guard let c = commands[command] else { return nil }
        var out = "NAME:\n   \(program) \(command) - \(c.summary)\n\nUSAGE:\n   \(program) \(command) \(c.usage)\n"
        if !c.options.isEmpty {
            out += "\nOPTIONS:\n" + c.options.map { "   " + $0 }.joined(separator: "\n") + "\n"
        }
        return out
    }

    /// Whether a command's arguments ask for help: `--help`, `-help`, `-h` anywhere (runc
    /// reorders flags after ids), but for `exec` and `ps` only before the id: what follows it is
    /// the container's command line or ps(1)'s.
    static func asked(_ command: String, _ args: [String]) -> Bool {
        let stopAtPositional = command == "exec" || command == "ps"
        for a in args {
            if a == "--" { return false }
            if a == "--help" || a == "-help" || a == "-h" { return true }
            if stopAtPositional && !a.hasPrefix("-") { return false }
        }
        return false
    }
}
