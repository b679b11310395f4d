import LinuxSystem

/// The HTML index of a directory without an index file (a route's `autoindex`), in the
/// shape of nginx's: directories first, then files, each with its date and size.
enum DirectoryListing {
    /// The page for the open directory `fd` (consumed), shown as `title`; nil if it cannot
    /// be read.
    static func html(fd: Int32, title: String) -> String? {
        guard var entries = try? Files.listDirectory(fd) else { return nil }
        entries.sort { ($0.isDirectory ? 0 : 1, $0.name) < ($1.isDirectory ? 0 : 1, $1.name) }
        let heading = ErrorPage.escape("Index of " + title)
        var page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(heading)</title></head>\n"
        page += "<body><h1>\(heading)</h1><hr><pre><a href=\"../\">../</a>\n"
        for entry in entries {
            let name = entry.isDirectory ? entry.name + "/" : entry.name
            let size = entry.isDirectory ? "-" : String(entry.size)
            page += "<a href=\"\(ErrorPage.escape(percentEncode(name)))\">\(ErrorPage.escape(name))</a>"
            page += " \(HTTPDate.format(entry.mtime, "%d-%b-%Y %H:%M")) \(size)\n"
        }
        page += "</pre><hr></body></html>\n"
        return page
    }

    /// Percent-encodes all but unreserved characters and "/" (RFC 3986 §2.3), so a name with
    /// "?", "#", "%" or spaces links to itself.
    static func percentEncode(_ name: String) -> String {
        var out = ""
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}
