// Where container state lives, which state directories are refused, and which ids are taken.
import Glibc
import Testing
@testable import EnvyroOCIRuntime

@Suite("state root and ids")
struct StateRootTests {
    @Test("--root wins; then root's /run; then $XDG_RUNTIME_DIR; then a directory of the uid in /tmp", arguments: [
        ("/given", true, "/xdg", "/given"),
        (nil, true, "/xdg", "/run/envyro/oci"),
        (nil, false, "/xdg", "/xdg/envyro/oci"),
        (nil, false, "", "/tmp/envyro-1234/oci"),
        (nil, false, nil, "/tmp/envyro-1234/oci"),
    ] as [(String?, Bool, String?, String)])
    func stateRoot(_ root: String?, _ hostRoot: Bool, _ xdg: String?, _ expected: String) {
        #expect(OCIGlobals.stateRoot(root: root, isHostRoot: hostRoot, runtimeDirectory: xdg, uid: 1234) == expected)
    }

    @Test("the state root in use is the rule applied to this process")
    func stateRootOfThisProcess() {
        var globals = OCIGlobals()
        globals.root = "/somewhere"
        #expect(globals.stateRoot == "/somewhere")
        globals.root = nil
        #expect(globals.stateRoot.hasSuffix("/oci"))
    }

    /// A fresh directory under /tmp for one test, removed by the caller.
    static func scratch() -> String {
        var template = Array("/tmp/envyro-oci-runtime-test-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    func check(_ root: String) -> String? {
        var globals = OCIGlobals()
        globals.root = root
        do throws(OCIFailure) {
            try OCIRuntime(globals: globals).checkStateRoot(creating: false)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("a state root of ours that only we can write is used, and a missing one means no containers")
    func acceptedRoots() {
        let dir = Self.scratch()
        defer { rmdir(dir) }
        chmod(dir, 0o711)
        #expect(check(dir) == nil)
        #expect(check(dir + "/missing") == nil)
    }

    @Test("a state root that others could plant containers and hooks in is refused, saying why")
    func refusedRoots() {
        let dir = Self.scratch()
        defer {
            unlink(dir + "/link"); unlink(dir + "/file"); rmdir(dir + "/open"); rmdir(dir)
        }
        mkdir(dir + "/open", 0o700)
        chmod(dir + "/open", 0o777)
        symlink(dir + "/open", dir + "/link")
        close(open(dir + "/file", O_WRONLY | O_CREAT, 0o600))
        let advice = "; use a directory of your own that only you can write (--root DIR, or set XDG_RUNTIME_DIR)"
        #expect(check(dir + "/link") == "refusing the state directory \(dir)/link: it is a symlink" + advice)
        #expect(check(dir + "/file") == "refusing the state directory \(dir)/file: it is not a directory" + advice)
        #expect(check(dir + "/open") == "refusing the state directory \(dir)/open: it is writable by group or others (mode 777)" + advice)
    }

    @Test("ids follow runc's rule: letters, digits and _ + - . only", arguments: [
        "a", "abc-123", "x_y.z+1", "A.B", String(repeating: "a", count: 1024),
    ])
    func goodIDs(_ id: String) throws {
        try OCIContainerDir.checkID(id)
    }

    @Test("an id outside runc's rule is refused with its text", arguments: [
        "", ".", "..", "a/b", "../x", "a b", "ä", "x\n", String(repeating: "a", count: 1025),
    ])
    func badIDs(_ id: String) {
        #expect(throws: OCIFailure("invalid container ID format: \(id)")) {
            try OCIContainerDir.checkID(id)
        }
    }

    @Test("a container's files sit in its directory under the root")
    func containerDirectory() {
        let dir = OCIContainerDir(root: "/r", id: "c1")
        #expect(dir.path == "/r/c1")
        #expect(dir.stateFile == "/r/c1/state.json")
        #expect(dir.startSocket == "/r/c1/start.sock")
    }
}
