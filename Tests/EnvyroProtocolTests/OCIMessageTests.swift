import EnvyroProtocol
import Testing

@Suite("OCI verbs on the wire")
struct OCIMessageTests {
    func rejects(_ m: Message) -> Bool {
        (try? Codec.encodeValidated(m, requestID: 1)) == nil
    }

    @Test("an OCI create carries five descriptors and an exec four")
    func descriptorCounts() throws {
        let bytes = Codec.encode(.ociCreate(sampleOCICreate), requestID: 1)
        #expect(throws: ProtocolError.self) { try Codec.decode(bytes, fileDescriptorCount: 3) }
        #expect(try Codec.decode(bytes, fileDescriptorCount: 5).message == .ociCreate(sampleOCICreate))
    }

    @Test("an oom_score_adj value sent with its presence flag off is refused (one encoding per request)")
    func oomScoreWithoutFlag() throws {
        var set = sampleOCICreate, unset = sampleOCICreate
        set.oomScoreAdj = 0x37FB
        unset.oomScoreAdj = nil
        let a = Codec.encode(.ociCreate(set), requestID: 1), b = Codec.encode(.ociCreate(unset), requestID: 1)
        // They differ in the value and in the flag right after it; clear the flag only.
        let differing = a.indices.filter { a[$0] != b[$0] }
        let flag = try #require(differing.last)
        var forged = a
        forged[flag] = 0
        #expect(throws: ProtocolError.invalidValue(field: "oomScoreAdj", reason: "14331 given with hasOOMScoreAdj false")) {
            try Codec.decode(forged, fileDescriptorCount: 5)
        }
    }

    @Test("a cgroup name outside the caller's oci- names is refused")
    func cgroupNames() {
        #expect(isValidOCICgroupName("oci-abc-1f"))
        for bad in ["oci-", "abc", "oci-../x", "oci-a/b", "c-1-2-3", "oci-" + String(repeating: "a", count: 200)] {
            #expect(!isValidOCICgroupName(bad), "\(bad)")
            var r = sampleOCICreate
            r.cgroup = bad
            #expect(rejects(.ociCreate(r)), "\(bad)")
            #expect(rejects(.ociControl(OCIControlRequest(op: .destroy, id: "x", cgroup: bad, pid: 1, startTime: 1))), "\(bad)")
        }
    }

    @Test("a namespace can't be both joined and created, and a join names one namespace")
    func joins() {
        var r = sampleOCICreate
        r.joinNamespaces = [(NamespaceSet.network, "/proc/1/ns/net")]
        #expect(rejects(.ociCreate(r)))
        r.base.namespaces.remove(NamespaceSet.network)
        r.base.network = NetworkModeWire.host
        #expect(!rejects(.ociCreate(r)))
        r.joinNamespaces = [(NamespaceSet([.network, .ipc]), "/proc/1/ns/net")]
        #expect(rejects(.ociCreate(r)))
    }

    @Test("relative mount destinations, device paths and malformed device rules are refused")
    func paths() {
        var r = sampleOCICreate
        r.mounts[0].destination = "proc"
        #expect(rejects(.ociCreate(r)))
        r = sampleOCICreate
        r.devices[0].path = "dev/null"
        #expect(rejects(.ociCreate(r)))
        r = sampleOCICreate
        r.deviceRules = ["c 1:3 rwm"]
        #expect(rejects(.ociCreate(r)))
    }

    @Test("a mount's recursive attributes, extra bits and idmap ranges are checked: no idmap bit through the attributes, ranges only with idmap, on an absolute bind source")
    func mountExtras() {
        #expect(!rejects(.ociCreate(sampleOCICreate)))
        let changes: [(inout WireMount) -> Void] = [
            { $0.attrSet = 0x10_0000 },              // MOUNT_ATTR_IDMAP
            { $0.attrClear = 0x40_0000 },            // not an attribute
            { $0.extra = 0x10 },
            { $0.uidMappings = [] },                 // idmap without ranges
            { $0.extra = 0 },                        // ranges without idmap
            { $0.source = "srv" },
            { $0.fstype = "tmpfs" },
            { $0.gidMappings = [IDMapping(containerID: 0, hostID: 4_294_967_295, count: 2)] },
            { $0.uidMappings = Array(repeating: IDMapping(containerID: 0, hostID: 0, count: 1), count: 341) },
        ]
        for change in changes {
            var r = sampleOCICreate
            change(&r.mounts[2])
            #expect(rejects(.ociCreate(r)))
        }
    }

    @Test("an ambient capability must be permitted and inheritable, and rlimits stay in range")
    func processRules() {
        var r = sampleOCICreate
        r.process.capInheritable = 0
        #expect(rejects(.ociCreate(r)))
        r = sampleOCICreate
        r.process.rlimits = [WireRlimit(resource: 7, soft: 10, hard: 5)]
        #expect(rejects(.ociCreate(r)))
        r = sampleOCICreate
        r.oomScoreAdj = 1001
        #expect(rejects(.ociCreate(r)))
    }

    @Test("signalling needs a pid and a signal in range; freezing needs a cgroup")
    func controlRules() {
        #expect(rejects(.ociControl(OCIControlRequest(op: .signal, id: "x", cgroup: "", pid: 0, startTime: 1, signal: 15))))
        #expect(rejects(.ociControl(OCIControlRequest(op: .signal, id: "x", cgroup: "", pid: 5, startTime: 1, signal: 99))))
        #expect(rejects(.ociControl(OCIControlRequest(op: .freeze, id: "x", cgroup: "", pid: 5, startTime: 1))))
        #expect(!rejects(.ociControl(OCIControlRequest(op: .signalAll, id: "x", cgroup: "oci-x-1", pid: 0, startTime: 0, signal: 9))))
    }
}
