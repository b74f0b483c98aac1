#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EnvyroJSON
import EnvyroSystem

/// Finds, reads and validates policy files.
public enum PolicyLoader {
    /// Policy files larger than this are refused.
    public static let maxFileBytes = 1 << 20

    /// The environment variable that names an extra, first-searched policy directory.
    public static let environmentVariable = "ENVYRO_POLICY_DIR"

    /// System-wide policy directories, searched after any found next to the executable.
    public static let systemDirectories = [
        "/etc/envyro/policy", "/usr/local/share/envyro/policy", "/usr/share/envyro/policy",
    ]

    /// Loads a policy by name or path.
    ///
    /// Anything containing "/" or ending ".json" is a path and is read as is. Otherwise it
    /// is a name (`[a-z0-9_-]{1,64}`, e.g. "default", "strict") and the first
    /// `<dir>/<name>.json` in `searchDirectories` is loaded.
    /// - Throws: `PolicyError`; `.notFound` lists the directories searched.
    public static func load(_ nameOrPath: String, searchDirectories: [String]) throws(PolicyError) -> Policy {
        let path = try locate(nameOrPath, searchDirectories: searchDirectories)
        return try parse(readFile(path), path: path)
    }

    /// The file `load` would read for `nameOrPath`: a path as is, or the first
    /// `<dir>/<name>.json` in `searchDirectories`. A privileged reader opens it itself, checking
    /// every component (envyro-nshelper's PolicyTrust), and passes the bytes to `parse`.
    public static func locate(_ nameOrPath: String, searchDirectories: [String]) throws(PolicyError) -> String {
        if isPath(nameOrPath) { return nameOrPath }
        guard isValidName(nameOrPath) else { throw .invalidName(nameOrPath) }
        for directory in searchDirectories {
            let candidate = join(directory, "\(nameOrPath).json")
            if exists(candidate) { return candidate }
        }
        throw .notFound(name: nameOrPath, searched: searchDirectories)
    }

    /// Parses and validates the bytes of a policy file; `path` is used in errors and
    /// recorded as `Policy.sourcePath`.
    public static func parse(_ bytes: [UInt8], path: String) throws(PolicyError) -> Policy {
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw .invalidJSON(path: path, detail: error.description)
        }
        return try PolicySchema.policy(root, path: path)
    }

    /// Where policy files live, in search order:
    /// 1. `$ENVYRO_POLICY_DIR`, if set and non-empty and `allowEnvironment` (privileged
    ///    helpers pass false);
    /// 2. walking up from the directory holding `executablePath` (resolved with
    ///    `realpath`), that directory and at most 4 of its ancestors (5 levels): each
    ///    `<dir>/policy` and `<dir>/share/envyro/policy` that contains `default.json`;
    /// 3. `systemDirectories`, whether or not they exist.
    ///
    /// Duplicates are removed, keeping the first.
    public static func searchDirectories(executablePath: String, allowEnvironment: Bool) -> [String] {
        var result: [String] = []
        func add(_ directory: String) {
            if !result.contains(directory) { result.append(directory) }
        }
        if allowEnvironment, let raw = getenv(environmentVariable) {
            let value = String(cString: raw)
            if !value.isEmpty { add(value) }
        }
        var directory = parent(of: canonical(executablePath))
        for _ in 0..<5 {
            for candidate in [join(directory, "policy"), join(directory, "share/envyro/policy")]
            where isRegularFile(join(candidate, "default.json")) {
                add(candidate)
            }
            if directory == "/" { break }
            directory = parent(of: directory)
        }
        systemDirectories.forEach(add)
        return result
    }

    /// True if `name` is a valid policy name: 1-64 characters from a-z, 0-9, '_' and '-'.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty && bytes.count <= 64 else { return false }
        return bytes.allSatisfy { c in
            (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
        }
    }

    /// True if `nameOrPath` is treated as a file path rather than a policy name.
    public static func isPath(_ nameOrPath: String) -> Bool {
        nameOrPath.contains("/") || nameOrPath.hasSuffix(".json")
    }

    // MARK: file system

    /// Reads a whole regular file of at most `maxFileBytes`.
    static func readFile(_ path: String) throws(PolicyError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw .unreadable(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .unreadable(path: path, errno: info.st_mode & S_IFMT == S_IFDIR ? EISDIR : EINVAL)
        }
        guard info.st_size <= maxFileBytes else { throw .unreadable(path: path, errno: EFBIG) }
        // Files.readAll reads in small chunks up to the limit (a zeroed buffer of the whole
        // limit was 4% of an embedded run's CPU), and refuses a file that grew past it.
        do { return try Files.readAll(fd, subject: path, limit: maxFileBytes) } catch {
            throw .unreadable(path: path, errno: error.errno)
        }
    }

    /// True unless `path` definitely does not exist (ENOENT/ENOTDIR); any other failure
    /// counts as present so that reading it reports the real error.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return true }
        return errno != ENOENT && errno != ENOTDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// The canonical absolute form of `path`, or a lexical absolute form if `realpath` fails.
    static func canonical(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        if path.hasPrefix("/") { return path }
        var cwd = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&cwd, cwd.count) != nil else { return path }
        let prefix = cwd.withUnsafeBufferPointer { buffer in
            String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return join(prefix, path)
    }

    /// The lexical parent directory: "/a/b" -> "/a", "/a" -> "/", "a" -> ".".
    static func parent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        if slash == p.startIndex { return "/" }
        return String(p[..<slash])
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : "\(directory)/\(name)"
    }
}
