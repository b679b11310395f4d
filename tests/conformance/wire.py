"""Sending one corpus request as raw bytes and reducing the answer to what is compared."""
import hashlib
import re
import socket

# Header fields compared by value; the others in PRESENCE only by presence.
COMPARED = ["content-type", "content-length", "content-range", "content-encoding", "vary", "location",
            "allow", "etag", "last-modified", "accept-ranges"]
PRESENCE = ["date"]


def request_bytes(entry, host="localhost"):
    method = entry.get("method", "GET")
    version = entry.get("version", "HTTP/1.1")
    lines = [f"{method} {entry['target']} {version}", f"Host: {host}", "Connection: close"]
    lines += entry.get("headers", [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(host, port, entry, timeout=10.0):
    """Sends the entry, reads until the server closes; returns (status, [(name, value)], body)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request_bytes(entry))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    if entry.get("method") == "HEAD" or status in (204, 304):
        body = b""
    return status, headers, body


def multipart_parts(content_type, body):
    """The (Content-Type, Content-Range, sha256 of data) of each part of a byteranges body."""
    m = re.search(r"boundary=(\S+)", content_type)
    if not m:
        return None
    boundary = b"--" + m.group(1).encode()
    parts = []
    for piece in body.split(b"\r\n" + boundary)[1:]:
        if piece.startswith(b"--"):
            break
        head, _, data = piece[2:].partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        parts.append([fields.get("Content-Type"), fields.get("Content-Range"), hashlib.sha256(data).hexdigest()])
    return parts


def summarize(status, headers, body):
    """What the suite compares: status, chosen header values, presence of others, the body."""
    fields = {}
    # An error page is each server's own: only the fields that carry meaning are compared.
    compared = COMPARED if status < 300 or status == 304 else ["location", "allow", "content-range"]
    for name in compared:
        values = [v for k, v in headers if k == name]
        if values:
            fields[name] = ", ".join(values)
    out = {"status": status, "headers": fields,
           "present": sorted(n for n in PRESENCE if any(k == n for k, _ in headers))}
    ctype = fields.get("content-type", "")
    if status in (200, 206) and ctype.startswith("multipart/byteranges"):
        fields["content-type"] = "multipart/byteranges; boundary=<any>"
        out["parts"] = multipart_parts(ctype, body)
    elif status in (200, 206) and not ctype.startswith("text/html") or status == 206:
        out["body_sha256"] = hashlib.sha256(body).hexdigest()
        out["body_length"] = len(body)
    elif status == 200:
        out["body_length"] = len(body)
    return out
