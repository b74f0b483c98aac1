import EnvyroClient
import EnvyroJSON
import EnvyroSystem

extension RunRequest {
    /// Reads a `RunSpec` object; unknown keys are an error, as in policy files.
    public init(spec o: JSONObject) throws(SupervisorError) {
        let known: Set<String> = ["argv", "env", "cwd", "hostname", "rootfs", "rootfsWritable", "network", "timeout", "init",
                                  "executor", "seccomp", "userns", "uidmap", "gidmap", "memory", "memorySwap", "pidsLimit", "cpus",
                                  "cpuShares", "cpusetCpus", "blkioWeight", "profile", "policy", "logDir", "logLimit", "logTee"]
        for k in o.keys where !known.contains(k) { throw .invalidRequest("run spec: unknown key '\(k)'") }
        func strings(_ k: String) throws(SupervisorError) -> [String] {
            guard let v = o[k], !v.isNull else { return [] }
            guard let a = v.arrayValue else { throw .invalidRequest("run spec: '\(k)' must be an array of strings") }
            var out: [String] = []
            for e in a {
                guard let s = e.stringValue else { throw .invalidRequest("run spec: '\(k)' must be an array of strings") }
                out.append(s)
            }
            return out
        }
        func str(_ k: String) throws(SupervisorError) -> String? {
            guard let v = o[k], !v.isNull else { return nil }
            guard let s = v.stringValue else { throw .invalidRequest("run spec: '\(k)' must be a string") }
            return s
        }
        func int(_ k: String) throws(SupervisorError) -> Int64? {
            guard let v = o[k], !v.isNull else { return nil }
            guard let i = v.intValue else { throw .invalidRequest("run spec: '\(k)' must be an integer") }
            return i
        }
        func bool(_ k: String) throws(SupervisorError) -> Bool {
            guard let v = o[k], !v.isNull else { return false }
            guard let b = v.boolValue else { throw .invalidRequest("run spec: '\(k)' must be true or false") }
            return b
        }
        self.init(argv: try strings("argv"))
        env = try strings("env")
        cwd = try str("cwd") ?? "/"
        hostname = try str("hostname") ?? "envyro"
        rootfs = try str("rootfs")
        rootfsWritable = try bool("rootfsWritable")
        network = try str("network")
        if let t = o["timeout"], !t.isNull {
            guard let d = t.doubleValue else { throw .invalidRequest("run spec: 'timeout' must be a number of seconds") }
            timeoutSeconds = d
        }
        useInit = try bool("init")
        executor = try str("executor") ?? "native"
        seccompProfile = try str("seccomp")
        userns = try str("userns")
        uidMaps = try strings("uidmap")
        gidMaps = try strings("gidmap")
        limits.memory = try str("memory")
        limits.memorySwap = try str("memorySwap")
        limits.pidsLimit = try int("pidsLimit")
        limits.cpus = try str("cpus")
        limits.cpuShares = try int("cpuShares")
        limits.cpusetCpus = try str("cpusetCpus")
        limits.blkioWeight = try int("blkioWeight")
        limits.profile = try str("profile")
        logDir = try str("logDir")
        logLimit = try str("logLimit")
        logTee = try bool("logTee")
    }
}
