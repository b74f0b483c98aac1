// A run's argv and environment (its secrets) as bytes in memory that is zeroed, never as Swift
// `String`s, whose storage is freed without being cleared (issue 15, item 4).
//
// The daemon parses the client's JSON straight into a pooled context's arena (JSONParser's
// capture), the plan and the `CreateRequest` refer to those bytes, the wire encoder writes them
// from there, and the helper decodes them into an arena of its own that is zeroed once the
// container has been spawned. Converting one to `String` (`strings`, `string(at:)`) makes a copy
// nothing zeroes: for tests and error messages only, never on a run's path.
import EnvyroJSON
import Glibc

/// Byte storage that is zeroed, not just dropped: NUL-terminated strings in one growable
/// allocation. Growing copies into a new allocation and zeroes the old one before freeing it;
/// `wipe()` zeroes what was written and starts a new generation (lists of the old one read as
/// empty); deinit zeroes and frees.
public final class SecretArena: @unchecked Sendable {
    // @unchecked: an arena belongs to one run, used by one thread at a time (as its context is).
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    private(set) var used = 0
    /// Bumped by `wipe()`: a list of an older generation refers to bytes that are gone.
    private(set) var generation: UInt64 = 0

    /// An empty arena (nothing is allocated until the first string).
    public init() {}

    deinit {
        if let base {
            explicit_bzero(base, capacity)
            base.deallocate()
        }
    }

    /// Room for `extra` more bytes at `used`.
    func reserve(_ extra: Int) {
        guard used + extra > capacity else { return }
        var newCapacity = max(capacity * 2, 256)
        while newCapacity < used + extra { newCapacity *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        // Zeros, so every byte not holding a live string is zero (no heap leftovers).
        memset(fresh, 0, newCapacity)
        if let base {
            fresh.copyMemory(from: base, byteCount: used)
            explicit_bzero(base, capacity)
            base.deallocate()
        }
        base = fresh
        capacity = newCapacity
    }

    /// Writes `length` bytes through `fill` (given room for `room` ≥ `length` bytes), then a
    /// NUL; returns where they start.
    func append(room: Int, _ fill: (UnsafeMutablePointer<UInt8>) -> Int) -> (offset: Int, length: Int) {
        reserve(room + 1)
        // reserve(1...) always leaves an allocation.
        let start = (base! + used).assumingMemoryBound(to: UInt8.self)
        let length = fill(start)
        start[length] = 0
        let offset = used
        used += length + 1
        return (offset, length)
    }

    /// Zeroes every byte written and forgets them; keeps the allocation for reuse.
    public func wipe() {
        if let base, used > 0 { explicit_bzero(base, used) }
        used = 0
        generation &+= 1
    }

    /// The whole allocation, including bytes already wiped (so a test can check they are zero).
    public func withStorage<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: capacity))
    }
}

/// A list of byte strings (argv, or `KEY=VALUE` environment entries) kept in a ``SecretArena``.
///
/// A reference: the plan, the `CreateRequest` and the executor's plan share one list, or views
/// of the same arena (``prefixed(by:)``), so the bytes exist once. Its description never shows
/// the contents.
public final class SecretStrings: @unchecked Sendable, Equatable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// Where the bytes are.
    public let arena: SecretArena
    /// Each string's start and length (without its NUL) in the arena.
    private var entries: [(offset: Int, length: Int)] = []
    /// The arena's generation the entries belong to.
    private var generation: UInt64

    /// An empty list in `arena` (a fresh one by default).
    public init(arena: SecretArena = SecretArena()) {
        self.arena = arena
        generation = arena.generation
    }

    /// A list holding copies of `strings` in a fresh arena (clients and tests: a run's own
    /// path never has its secrets as `String`s).
    public convenience init(_ strings: [String]) {
        self.init()
        for s in strings { append(s) }
    }

    public convenience init(arrayLiteral elements: String...) { self.init(elements) }

    /// Entries of a wiped arena are gone.
    private var live: Bool { generation == arena.generation }

    /// The number of strings.
    public var count: Int { live ? entries.count : 0 }
    /// Whether there are none.
    public var isEmpty: Bool { count == 0 }

    /// The bytes of string `index` (without the NUL), valid until the arena grows or is wiped.
    public subscript(index: Int) -> UnsafeRawBufferPointer {
        guard live, let base = arena.base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let e = entries[index]
        return UnsafeRawBufferPointer(start: base + e.offset, count: e.length)
    }

    /// String `index` as a NUL-terminated C string in the arena (for the C config, no copy).
    public func cString(at index: Int) -> UnsafePointer<CChar> {
        guard live, let base = arena.base else {
            return UnsafeRawPointer(("" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
        }
        return UnsafePointer((base + entries[index].offset).assumingMemoryBound(to: CChar.self))
    }

    /// Appends a copy of `bytes`.
    public func append(bytes: UnsafeRawBufferPointer) {
        adoptGeneration()
        entries.append(arena.append(room: bytes.count) { start in
            if bytes.count > 0 { UnsafeMutableRawPointer(start).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            return bytes.count
        })
    }

    /// Appends a copy of `text`'s UTF-8.
    public func append(_ text: String) {
        var text = text
        text.withUTF8 { append(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Appends string `index` of `other` (a copy of its bytes into this arena).
    public func append(_ other: SecretStrings, at index: Int) { append(bytes: other[index]) }

    /// A list in the same arena: `prefix` (copied in: not secret, e.g. `/bin/sh -c`) followed
    /// by these strings (not copied). How an executor's plan puts its runtime before a user's
    /// arguments.
    public func prefixed(by prefix: [String]) -> SecretStrings {
        let out = SecretStrings(arena: arena)
        for p in prefix { out.append(p) }
        if live { out.entries.append(contentsOf: entries) }
        return out
    }

    /// This list without the earlier entries of a key that appears again (an environment: a
    /// later `KEY=` wins; the order of what stays is kept). A view of the same bytes.
    public func keepingLastOfEachKey() -> SecretStrings {
        let out = SecretStrings(arena: arena)
        guard live else { return out }
        for i in entries.indices where !((i + 1)..<entries.count).contains(where: { sameKey(i, $0) }) {
            out.entries.append(entries[i])
        }
        return out
    }

    /// Whether entries `a` and `b` have the same key (the bytes before their first `=`).
    private func sameKey(_ a: Int, _ b: Int) -> Bool {
        let x = self[a], y = self[b]
        let kx = x.firstIndex(of: UInt8(ascii: "=")) ?? x.count
        let ky = y.firstIndex(of: UInt8(ascii: "=")) ?? y.count
        return kx == ky && (kx == 0 || memcmp(x.baseAddress!, y.baseAddress!, kx) == 0)
    }

    /// The index of the last entry with key `key` (`KEY=...`), if any.
    public func lastIndex(ofKey key: String) -> Int? {
        let k = Array(key.utf8) + [UInt8(ascii: "=")]
        return (0..<count).last { i in
            let e = self[i]
            return e.count >= k.count && memcmp(e.baseAddress!, k, k.count) == 0
        }
    }

    /// Zeroes the arena and empties the list (and every other list of the arena).
    public func wipe() {
        arena.wipe()
        entries.removeAll(keepingCapacity: true)
        generation = arena.generation
    }

    /// Whether `bytes` are valid UTF-8, checked in place (no `String` is made).
    public static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Whether any string contains a NUL byte (execve can't pass it); its index.
    public func firstIndexContainingNUL() -> Int? {
        (0..<count).first { self[$0].contains(0) }
    }

    /// Copies as `String`s: tests and error messages only (nothing zeroes these).
    public var strings: [String] { (0..<count).map { string(at: $0) } }

    /// String `index` as a `String` copy: tests and error messages only.
    public func string(at index: Int) -> String { String(decoding: self[index], as: UTF8.self) }

    public static func == (a: SecretStrings, b: SecretStrings) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where !a[i].elementsEqual(b[i]) { return false }
        return true
    }

    public var description: String { "<\(count) secret strings>" }

    /// Entries added to an arena wiped since this list was made start a fresh list.
    private func adoptGeneration() {
        if !live {
            entries.removeAll(keepingCapacity: true)
            generation = arena.generation
        }
    }
}

/// The JSON parser writes captured strings (``JSONParser/parse(_:capturing:)``) straight in.
extension SecretStrings: JSONStringSink {
    public func appendString(room: Int, _ fill: (UnsafeMutablePointer<UInt8>) throws(JSONError) -> Int) throws(JSONError) {
        adoptGeneration()
        var failure: JSONError? = nil
        let entry = arena.append(room: room) { start in
            do throws(JSONError) { return try fill(start) } catch { failure = error; return 0 }
        }
        if let failure {
            // Nothing half-written stays readable.
            explicit_bzero(arena.base! + entry.offset, room)
            throw failure
        }
        entries.append(entry)
    }

    public var stringCount: Int { count }

    public func truncate(to count: Int) {
        for e in entries[count...] { explicit_bzero(arena.base! + e.offset, e.length) }
        entries.removeSubrange(count...)
    }
}
