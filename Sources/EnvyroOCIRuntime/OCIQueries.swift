// The OCI commands that only read: `state`, `list` and `ps` (the others are in OCIRuntime.swift).
import EnvyroJSON
import EnvyroOCI
import EnvyroSystem
import Glibc

extension OCIRuntime {
    // MARK: - state / list / ps

    func state(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "state", valued: [], boolean: [])
        guard a.positionals.count == 1 else { throw OCIFailure("state: needs exactly one container id") }
        let (dir, rec) = try load(a.positionals[0])
        print(stateDocument(dir, rec))
        return 0
    }

    func list(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "list", valued: ["format"], boolean: ["quiet"], aliases: ["f": "format", "q": "quiet"])
        let ids = ((try? Files.listDirectory(root)) ?? []).sorted()
        var rows: [(OCIContainerDir, OCIRecord)] = []
        for id in ids { if let r = try? load(id) { rows.append(r) } }
        if a.flag("quiet") { for (_, r) in rows { print(r.id) }; return 0 }
        if a.value("format") == "json" {
            let items = rows.map { (d, r) -> String in
                let st = status(d, r)
                return "{\"ociVersion\":\"1.0.2\",\"id\":\(JSONText.quoted(r.id)),\"pid\":\(st == .stopped ? 0 : r.pid),\"status\":\"\(st.rawValue)\",\"bundle\":\(JSONText.quoted(r.bundle)),\"rootfs\":\(JSONText.quoted(r.rootfs)),\"created\":\"\(r.created)\",\"owner\":\(JSONText.quoted(ProcessInfo.userName(r.uid)))}"
            }
            print(items.isEmpty ? "null" : "[" + items.joined(separator: ",") + "]")
            return 0
        }
        print("ID".padding(20) + "PID".padding(10) + "STATUS".padding(10) + "BUNDLE".padding(40) + "CREATED".padding(32) + "OWNER")
        for (d, r) in rows {
            let st = status(d, r)
            print(r.id.padding(20) + String(st == .stopped ? 0 : r.pid).padding(10) + st.rawValue.padding(10) + r.bundle.padding(40) + r.created.padding(32) + ProcessInfo.userName(r.uid))
        }
        return 0
    }

    func ps(_ args: [String]) throws(OCIFailure) -> Int32 {
        let a = try OCIArguments(args, command: "ps", valued: ["format"], boolean: [], aliases: ["f": "format"], stopAtFirstPositional: true)
        guard let id = a.positionals.first else { throw OCIFailure("ps: needs a container id") }
        let (dir, rec) = try load(id)
        guard status(dir, rec) != .stopped else { throw OCIFailure("container \(id) is not running") }
        let pids = ProcessInfo.cgroupProcesses(of: rec.pid, named: rec.cgroupPath) ?? [rec.pid]
        if a.value("format") == "json" {
            print("[" + pids.map(String.init).joined(separator: ",") + "]")
            return 0
        }
        // runc runs ps(1) and keeps the container's lines.
        var psArgs = Array(a.positionals.dropFirst())
        if psArgs.isEmpty { psArgs = ["-ef"] }
        return ProcessInfo.runPS(psArgs, pids: Set(pids))
    }
}
