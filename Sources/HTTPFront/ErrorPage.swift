import AppExchange

/// The small HTML pages berth answers with when it, not the app, decides the status.
enum ErrorPage {
    static func html(status: Int, reason: String, detail: String? = nil) -> String {
        var page = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(status) \(reason)</title>"
        page += "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        page += "pre{background:#f6f6f6;border:1px solid #ddd;padding:1em;overflow:auto;font-size:13px}</style>"
        page += "</head><body><h1>\(status) \(reason)</h1>"
        if let detail { page += detail }
        page += "<hr><p><small>berth</small></p></body></html>\n"
        return page
    }

    /// The page for a failed app exchange: in dev mode with the Python traceback.
    static func forFailure(_ failure: AppFailure, showTracebacks: Bool) -> (Int, String) {
        let status = failure.status
        let reason = reasonPhrase(status)
        guard showTracebacks else { return (status, html(status: status, reason: reason)) }
        switch failure {
        case .appError(let traceback):
            return (status, html(status: status, reason: reason,
                detail: "<p>The app raised an exception:</p><pre>\(escape(traceback))</pre>"))
        case .bootError(let message):
            return (status, html(status: status, reason: reason,
                detail: "<p>The app failed to load. Fix the error and save: berth reloads by itself.</p><pre>\(escape(message))</pre>"))
        case .workerDied(let reason):
            return (status, html(status: status, reason: self.reasonPhrase(status), detail: "<p>\(escape(reason))</p>"))
        case .timeout(let seconds, let stack):
            let trace = stack.isEmpty ? "" : "<p>The worker's Python stack when the time ran out:</p><pre>\(escape(stack))</pre>"
            return (status, html(status: status, reason: reason,
                detail: "<p>The request ran longer than \(seconds) s; berth stopped its worker.</p>" + trace))
        case .overloaded, .shuttingDown:
            return (status, html(status: status, reason: reason))
        }
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 416: return "Range Not Satisfiable"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }
}
