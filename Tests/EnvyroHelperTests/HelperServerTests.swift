import CEnvyro
@testable import EnvyroHelper
import EnvyroProtocol
import Glibc
import Testing

/// The helper's logic against the recording fake: no root, no namespaces, no cgroups.
@Suite("The helper's server, without root")
struct HelperServerTests {
    @Test("a request before hello is refused by the permit table, audited, and closes the connection")
    func permitBeforeHello() throws {
        let f = try HelperFixture()
        let (open, reply) = try f.call(.signal(SignalRequest(containerID: 1, signal: SIGTERM)))
        #expect(!open)
        #expect(reply == nil)
        #expect(f.auditText.contains("not permitted before hello"))
        #expect(f.fake.calls.isEmpty)
    }

    @Test("hello is permitted once: a second one is refused and closes the connection")
    func helloOnce() throws {
        let f = try HelperFixture()
        try f.greet()
        let (open, _) = try f.call(.hello(Hello(client: "again")))
        #expect(!open)
        #expect(f.auditText.contains("hello is permitted once"))
    }

    @Test("a verb the policy does not list is refused after hello (default lists no OCI verbs)")
    func policyListed() throws {
        let f = try HelperFixture()
        try f.greet()
        let control = OCIControlRequest(op: .signal, id: "c", cgroup: "", pid: 1, startTime: 1, signal: SIGTERM)
        let (open, _) = try f.call(.ociControl(control))
        #expect(!open)
        #expect(f.auditText.contains("verb not permitted by policy default"))
        #expect(f.fake.calls.isEmpty)
    }

    @Test("hello's mode flags, not the client's name, decide prewarming", arguments: [
        (HelloModes(), false), (.prewarm, true), (.oci, false),
    ] as [(HelloModes, Bool)])
    func helloModes(_ modes: HelloModes, _ prewarming: Bool) throws {
        let f = try HelperFixture()
        try f.greet(modes)
        #expect(f.server.prewarming == prewarming)
        #expect(f.server.phase == .ready)
    }

    @Test("a create that breaks the policy is denied with the policy step, and nothing is cloned", arguments: [
        HelperFixture.create(namespaces: [.user, .mount]),
        { var r = HelperFixture.create(); r.network = .host; return r }(),
        { var r = HelperFixture.create(); r.rootfs = "relative/path"; return r }(),
    ])
    func policyDenied(_ request: CreateRequest) throws {
        let f = try HelperFixture()
        try f.greet()
        let (open, reply) = try f.call(.create(request), fds: HelperFixture.stdio())
        #expect(open)
        guard case .failed(let failure) = reply else { Issue.record("expected a failure, got \(String(describing: reply))"); return }
        #expect(failure.step == .policy)
        #expect(failure.errno == EPERM)
        #expect(f.fake.calls.isEmpty)
        #expect(f.auditText.contains("denied"))
    }

    @Test("a clone the kernel refuses is reported as the clone step with its errno")
    func cloneRefused() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cloneScript = .fail(ENOSPC)
        let (open, reply) = try f.call(.create(HelperFixture.create()), fds: HelperFixture.stdio())
        #expect(open)
        guard case .failed(let failure) = reply else { Issue.record("expected a failure"); return }
        #expect(failure.step == .clone)
        #expect(failure.errno == ENOSPC)
        #expect(f.fake.calls.count == 1)
        if case .clone(let flags) = f.fake.calls.first { #expect(flags & 0x1000_0000 != 0) }   // CLONE_NEWUSER
    }

    @Test("the handshake writes the caller's single-id map, sends the sync byte, and a failed exec is the exec step; the child is killed")
    func handshakeThenExecFails() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cloneScript = .child(pid: 4242, pidfd: 777, records: [
            envyro_child_error(step: Int32(ENVYRO_STEP_READY.rawValue), err: 0, detail: -1),
            envyro_child_error(step: Int32(ENVYRO_STEP_EXEC.rawValue), err: ENOENT, detail: -1),
        ])
        let (_, reply) = try f.call(.create(HelperFixture.create(argv: ["/no/such"])), fds: HelperFixture.stdio())
        guard case .failed(let failure) = reply else { Issue.record("expected a failure"); return }
        #expect(failure.step == .exec)
        #expect(failure.errno == ENOENT)
        let uid = getuid(), gid = getgid()
        #expect(Array(f.fake.calls.dropFirst()) == [
            .writeIDMaps(pid: 4242, uid: "0 \(uid) 1\n", gid: "0 \(gid) 1\n"),
            .signal(pidfd: 777, SIGKILL), .wait(pidfd: 777), .close(777),
        ])
        var byte: UInt8 = 0
        #expect(read(f.fake.syncReadFD, &byte, 1) == 1 && byte == 1)
        close(f.fake.syncReadFD)
    }

    @Test("a child that dies before its id maps is the handshake step")
    func childDiesBeforeMaps() throws {
        let f = try HelperFixture()
        try f.greet()
        f.fake.cloneScript = .child(pid: 4243, pidfd: 778, records: [])
        let (_, reply) = try f.call(.create(HelperFixture.create()), fds: HelperFixture.stdio())
        guard case .failed(let failure) = reply else { Issue.record("expected a failure"); return }
        #expect(failure.step == .handshake)
        #expect(!f.fake.calls.contains { if case .writeIDMaps = $0 { true } else { false } })
        close(f.fake.syncReadFD)
    }

    @Test("a signal for a container this connection does not have is refused without a syscall")
    func signalUnknown() throws {
        let f = try HelperFixture()
        try f.greet()
        let (open, reply) = try f.call(.signal(SignalRequest(containerID: 99, signal: SIGTERM)))
        #expect(open)
        guard case .failed(let failure) = reply else { Issue.record("expected a failure"); return }
        #expect(failure.step == .signal)
        #expect(failure.errno == ESRCH)
        #expect(f.fake.calls.isEmpty)
    }

    @Test("a signal for a live container goes to its pidfd, and its exit is reaped through the seam")
    func signalKnown() throws {
        let f = try HelperFixture()
        try f.greet()
        f.server.containers[7] = LiveContainer(id: 7, pid: 4244, pidfd: 779)
        let (_, reply) = try f.call(.signal(SignalRequest(containerID: 7, signal: SIGTERM)))
        #expect(reply == .signalled(Signalled(containerID: 7)))
        #expect(f.fake.calls == [.signal(pidfd: 779, SIGTERM)])
        f.server.reap(LiveContainer(id: 7, pid: 4244, pidfd: 779))
        #expect(f.server.containers.isEmpty)
        #expect(Array(f.fake.calls.dropFirst()) == [.reap(pidfd: 779), .close(779)])
        guard let packet = try f.client.receive(capacity: 1 << 16),
              case .exited(let exited) = try Codec.decode(packet.bytes, fileDescriptorCount: 0).message else {
            Issue.record("expected an exited event"); return
        }
        #expect(exited.containerID == 7 && exited.exitCode == 0)
    }

    @Test("every child step of the trampoline has the same name in FailureStep as in envyro_step_name",
          arguments: FailureStep.allCases.filter { $0.rawValue > 0 && $0.rawValue < 0x200 })
    func childStepNames(_ step: FailureStep) {
        #expect(step.name == String(cString: envyro_step_name(Int32(step.rawValue))))
    }

    @Test("every request verb has a handler, and no reply or event has one", arguments: Verb.allCases)
    func handlers(_ verb: Verb) {
        #expect((verb.handler != nil) == verb.isRequest)
    }
}
