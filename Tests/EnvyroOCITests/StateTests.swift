import EnvyroJSON
import EnvyroOCI
import Testing

@Suite("The state document and the saved container record")
struct StateTests {
    @Test("The state document lists runc's keys in runc's order")
    func stateKeyOrder() throws {
        let state = OCIState(id: "demo", status: .running, pid: 4242, bundle: "/b", rootfs: "/b/rootfs",
                             created: "2026-11-26T14:31:39.123456789Z", owner: "",
                             annotations: [OCIKeyValue("z", "1"), OCIKeyValue("a", "2")])
        #expect(state.json() == #"{"ociVersion":"1.0.2","id":"demo","status":"running","pid":4242,"bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-26T14:31:39.123456789Z","owner":"","annotations":{"z":"1","a":"2"}}"#)
    }

    @Test("The spec's state for hooks leaves out runc's extras and empty annotations")
    func minimalState() {
        let state = OCIState(id: "x", status: .created, pid: 7, bundle: "/b")
        #expect(state.json() == #"{"ociVersion":"1.0.2","id":"x","status":"created","pid":7,"bundle":"/b"}"#)
    }

    @Test("A state document reads back to the same value", arguments: OCIState.Status.allCases)
    func stateRoundTrip(_ status: OCIState.Status) throws {
        let state = OCIState(id: "c1", status: status, pid: 99, bundle: "/srv/c1", rootfs: "/srv/c1/rootfs",
                             created: OCITime.now(), owner: "alice", annotations: [OCIKeyValue("k", "v")])
        #expect(try OCIState.parse(bytes: Array(state.json(pretty: true).utf8)) == state)
    }

    @Test("A state document with an unknown status names the key")
    func badStatus() {
        #expect {
            try OCIState.parse(bytes: Array(#"{"ociVersion":"1.0.2","id":"x","status":"dead","pid":1,"bundle":"/b"}"#.utf8))
        } throws: { error in
            guard let error = error as? OCIError else { return false }
            return error.document == "state.json" && error.path == "status"
        }
    }

    static let record = PersistedContainer(
        id: "web", bundle: "/srv/web", rootfs: "/srv/web/rootfs", pid: 31337, pidStartTime: 123_456_789,
        created: "2026-01-02T03:04:05.5Z", annotations: [OCIKeyValue("io.container.manager", "libpod")],
        cgroupPath: "/envyro/web", namespaceFlags: 0x7C02_0000, configDigest: "sha256:0123abcd", uid: 1000,
        startContainer: [OCIConfig.Hook(path: "/usr/bin/hook", args: ["hook", "start"])],
        poststart: [OCIConfig.Hook(path: "/usr/bin/notify", args: ["notify", "up"], env: ["X=1"], timeout: 3)],
        poststop: [OCIConfig.Hook(path: "/usr/bin/cleanup")])

    @Test("A saved container record reads back to the same value")
    func recordRoundTrip() throws {
        let text = Self.record.json()
        #expect(try PersistedContainer.parse(bytes: Array(text.utf8)) == Self.record)
        let empty = PersistedContainer(id: "e", bundle: "/e", rootfs: "/e/r", pid: 0, pidStartTime: 0, created: "",
                                       cgroupPath: "", namespaceFlags: 0, configDigest: "", uid: 0)
        #expect(try PersistedContainer.parse(bytes: Array(empty.json().utf8)) == empty)
    }

    @Test("A saved record from another format version is refused")
    func recordVersion() throws {
        guard case .object(var o) = try JSONParser.parse(Self.record.json()) else { Issue.record("not an object"); return }
        o["version"] = 2
        #expect {
            try PersistedContainer.parse(bytes: Array(JSONValue.object(o).serialized().utf8))
        } throws: { error in
            (error as? OCIError)?.path == "version"
        }
        o["version"] = 1
        o["extra"] = true
        #expect {
            try PersistedContainer.parse(bytes: Array(JSONValue.object(o).serialized().utf8))
        } throws: { error in
            (error as? OCIError)?.path == "extra"
        }
    }

    @Test("A saved record gives the state document; a stopped one has pid 0")
    func recordState() {
        let running = Self.record.state(status: .running)
        #expect(running.pid == 31337)
        #expect(running.rootfs == "/srv/web/rootfs")
        #expect(running.annotations == Self.record.annotations)
        #expect(Self.record.state(status: .stopped).pid == 0)
    }

    static let times: [(Int64, Int, String)] = [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1_795_703_499, 123_456_789, "2026-11-26T14:31:39.123456789Z"),
        (951_782_400, 500_000_000, "2000-02-29T00:00:00.5Z"),
        (1_709_164_800, 1000, "2024-02-29T00:00:00.000001Z"),
        (4_102_444_799, 0, "2099-12-31T23:59:59Z"),
        (-1, 0, "1969-12-31T23:59:59Z"),
    ]

    @Test("Timestamps are RFC 3339 in UTC with Go's trimmed nanoseconds", arguments: times)
    func rfc3339(_ seconds: Int64, _ nanoseconds: Int, _ expected: String) {
        #expect(OCITime.rfc3339(seconds: seconds, nanoseconds: nanoseconds) == expected)
    }

    @Test("The current time looks like an RFC 3339 UTC timestamp from this century")
    func now() {
        let text = OCITime.now()
        #expect(text.hasPrefix("20"))
        #expect(text.hasSuffix("Z"))
        #expect(Array(text.utf8)[10] == UInt8(ascii: "T"))
    }
}
