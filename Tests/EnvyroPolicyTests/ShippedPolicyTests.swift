import EnvyroPolicy
import Testing

@Suite("Shipped policies")
struct ShippedPolicyTests {
    @Test("The default policy loads by name and is close to podman")
    func defaultPolicy() throws {
        let policy = try PolicyLoader.load("default", searchDirectories: [repoPolicyDirectory])
        #expect(policy.name == "default")
        #expect(policy.sourcePath == repoPolicyDirectory + "/default.json")
        #expect(policy.schemaVersion == 1)
        #expect(policy.summary?.isEmpty == false)
        #expect(policy.namespaces == Set(NamespaceKind.allCases))
        #expect(policy.network == NetworkRules(allowed: [.none, .host], default: .none))
        #expect(policy.rootfs.allowWritable)
        #expect(policy.process.noNewPrivileges)
        #expect(policy.process.allowInit)
        #expect(policy.process.env == [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
        ])
        #expect(policy.process.maxArgs == 4096)
        #expect(policy.audit == AuditRules(path: nil, failClosed: false))
        #expect(policy.helper == HelperRules(maxFrameBytes: 65536, verbs: [.hello, .create, .signal, .collect]))
    }

    @Test("The strict policy loads by name and locks things down")
    func strictPolicy() throws {
        let policy = try PolicyLoader.load("strict", searchDirectories: [repoPolicyDirectory])
        #expect(policy.name == "strict")
        #expect(policy.namespaces == Set(NamespaceKind.allCases))
        #expect(policy.network.allowed == [.none])
        #expect(policy.network.default == .none)
        #expect(!policy.network.allows(.host))
        #expect(!policy.rootfs.allowWritable)
        #expect(policy.process.noNewPrivileges)
        #expect(policy.process.allowInit)
        #expect(policy.process.maxArgs == 1024)
        #expect(policy.process.maxEnv == 256)
        #expect(policy.audit == AuditRules(path: nil, failClosed: true))
        // strict serves `envyro run` only: no OCI verbs.
        #expect(policy.helper == HelperRules(maxFrameBytes: 16384, verbs: [.hello, .create, .signal, .collect]))
        #expect(policy.pools == PoolRules(helpers: 2, prewarmedPerShape: 1, prewarmedTotal: 4, networkNamespaces: 4, cgroups: 4))
    }

    @Test("Shipped policies load by absolute path with the same result as by name", arguments: ["default", "strict"])
    func byPath(_ name: String) throws {
        let byName = try PolicyLoader.load(name, searchDirectories: [repoPolicyDirectory])
        let byPath = try PolicyLoader.load("\(repoPolicyDirectory)/\(name).json", searchDirectories: [])
        #expect(byName == byPath)
    }

    @Test("Strict is never looser than default")
    func strictIsStricter() throws {
        let d = try PolicyLoader.load("default", searchDirectories: [repoPolicyDirectory])
        let s = try PolicyLoader.load("strict", searchDirectories: [repoPolicyDirectory])
        #expect(s.namespaces.isSuperset(of: d.namespaces))
        #expect(s.network.allowed.isSubset(of: d.network.allowed))
        #expect(s.process.maxArgs <= d.process.maxArgs && s.process.maxEnv <= d.process.maxEnv)
        #expect(s.helper.maxFrameBytes <= d.helper.maxFrameBytes)
        #expect(s.audit.failClosed || !d.audit.failClosed)
    }

    @Test("oci trusts the host's root as runc does; oci-restricted is oci's other rules without that trust; no other policy trusts it")
    func ociPolicies() throws {
        let oci = try PolicyLoader.load("oci", searchDirectories: [repoPolicyDirectory])
        let restricted = try PolicyLoader.load("oci-restricted", searchDirectories: [repoPolicyDirectory])
        #expect(oci.hostRootTrusted)
        #expect(!restricted.hostRootTrusted)
        #expect(restricted.name == "oci-restricted")
        // Everything but the trust (and the name and description) is the same.
        var same = restricted
        same.name = oci.name
        same.sourcePath = oci.sourcePath
        same.summary = oci.summary
        same.hostRootTrusted = true
        #expect(same == oci)
        #expect(!oci.capabilities.keep.contains("CAP_SYS_ADMIN"))
        for name in ["default", "strict"] {
            #expect(try !PolicyLoader.load(name, searchDirectories: [repoPolicyDirectory]).hostRootTrusted)
        }
    }
}
