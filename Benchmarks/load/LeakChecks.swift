// envyro-load's leak checks: cgroups, mounts, temp files and marked processes left behind.

import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroSystem
import Glibc
import Synchronization

// MARK: leak checks

struct Leaks {
    var items: [(kind: String, what: String)] = []
    mutating func add(_ kind: String, _ what: String) { items.append((kind, what)) }
}

func cgroupRoots() -> [String] {
    let sub = getuid() == 0 ? "root" : "u\(getuid())"
    var out: [String] = []
    for c in (try? Files.listDirectory("/sys/fs/cgroup")) ?? [] {
        let p = "/sys/fs/cgroup/\(c)/envyro/\(sub)"
        if Files.kind(p) == .directory { out.append(p) }
    }
    return out
}

func ourCgroups(_ s: Shared) -> [String] {
    let helpers = s.lock.withLock { _ in s.helpersSeen }
    var out: [String] = []
    for root in cgroupRoots() {
        for name in (try? Files.listDirectory(root)) ?? [] {
            guard Files.kind(root + "/" + name) == .directory else { continue }
            // c-<helper pid>-<start>-<n>: ours if a helper of ours made it (root's subtree is
            // shared with other tests); a user's subtree is all ours.
            let owner = name.hasPrefix("c-") ? Int32(name.dropFirst(2).prefix { $0.isNumber }) : nil
            if getuid() != 0 || owner.map({ helpers.contains($0) }) == true { out.append(root + "/" + name) }
        }
    }
    return out
}

func interestingMounts() -> Set<String> {
    Set((readText("/proc/self/mountinfo", limit: 1 << 22) ?? "").split(separator: "\n").map(String.init).filter {
        $0.contains("envyro") || $0.contains("nsfs") || $0.contains("load")
    })
}

func tmpEntries() -> Set<String> {
    var out = Set<String>()
    for name in (try? Files.listDirectory("/tmp")) ?? [] {
        var st = Glibc.stat()
        guard lstat("/tmp/" + name, &st) == 0, st.st_uid == getuid() else { continue }
        // Root's /tmp is shared with every other test on the machine: only envyro's own names.
        if getuid() == 0 && !(name.hasPrefix("envyro") && !name.hasPrefix("envyro-it-") && !name.hasPrefix("envyro-io-test-")) { continue }
        out.insert(name)
    }
    return out
}

func markerProcesses(_ s: Shared) -> [String] {
    allPIDs().compactMap { p -> String? in
        guard p != getpid(), let cmd = readText("/proc/\(p)/cmdline"), cmd.contains(s.marker) else { return nil }
        return "\(p) \(cmd.replacingZeros())"
    }
}

extension String {
    func replacingZeros() -> String { String(self.map { $0 == "\0" ? " " : $0 }) }
}
