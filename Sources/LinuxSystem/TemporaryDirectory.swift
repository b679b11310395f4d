#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The directory for temporary files: `$TMPDIR` when it names an absolute path, else /tmp;
/// always with a trailing slash (what Foundation's NSTemporaryDirectory gives, without the
/// URL machinery behind it).
public func temporaryDirectory() -> String {
    var directory = "/tmp/"
    if let value = getenv("TMPDIR").map({ String(cString: $0) }), value.hasPrefix("/") {
        directory = value.hasSuffix("/") ? value : value + "/"
    }
    return directory
}
