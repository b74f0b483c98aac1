import EnvyroSystem
import Glibc
import Testing
@testable import EnvyroSeccomp

@Suite("Compiled filters kept on disk")
struct DiskCacheTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        var template = Array("/tmp/envyro-seccomp-cache-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer {
            for f in (try? Files.listDirectory(dir + "/cache")) ?? [] { unlink(dir + "/cache/" + f) }
            rmdir(dir + "/cache"); rmdir(dir)
        }
        try body(dir + "/cache")
    }

    @Test("a stored program is loaded back, byte for byte, from a 0700 directory of 0600 files")
    func roundTrip() throws {
        try withDirectory { dir in
            let cache = SeccompDiskCache(directory: dir)
            let bpf = [UInt8](repeating: 7, count: 64)
            cache.store("k", bpf)
            #expect(cache.load("k") == bpf)
            var st = stat()
            #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o700)
            #expect(stat(dir + "/k.bpf", &st) == 0 && st.st_mode & 0o777 == 0o600)
        }
    }

    @Test("an entry others can read or write, a symlink, or a size that isn't whole instructions is not used")
    func refusals() throws {
        try withDirectory { dir in
            let cache = SeccompDiskCache(directory: dir)
            cache.store("open", [UInt8](repeating: 1, count: 8))
            chmod(dir + "/open.bpf", 0o644)
            #expect(cache.load("open") == nil)
            cache.store("odd", [UInt8](repeating: 1, count: 9))
            #expect(cache.load("odd") == nil)
            cache.store("real", [UInt8](repeating: 1, count: 8))
            symlink(dir + "/real.bpf", dir + "/link.bpf")
            #expect(cache.load("link") == nil)
            #expect(cache.load("real") != nil)
        }
    }

    @Test("the key changes with every part, and names the kernel, architecture and libseccomp too")
    func keys() {
        #expect(SeccompDiskCache.key(["a", "b"]) != SeccompDiskCache.key(["a", "c"]))
        #expect(SeccompDiskCache.key(["a", "b"]) == SeccompDiskCache.key(["a", "b"]))
        #expect(SeccompDiskCache.key(["x"]).count == 64)
    }
}
