#!/bin/bash
# Instructions per static request, counted by callgrind, for berth's front and for nginx
# serving the same file: figures that do not move with the machine's load (req/s on a
# shared 2-core VM moves ±15 % from run to run).
#
#   bench/instructions.sh [BERTH_BINARY]      (default: .build/release/berth; `make release` first)
#
# Each server serves a 1 KiB file; h2load sends N requests (HTTP/1.1, 50 connections) under
# callgrind twice (2,000 and 12,000 requests) and the difference per request is printed:
# start-up cancels out. Rows: a 200 of the whole file, and a 304 (If-None-Match). nginx runs
# as one process (master_process off) with sendfile and tcp_nopush on, as in `make bench`.
# The last rows count berth's front alone (not its Python workers) for the hello WSGI app, 2
# workers without isolation: its 13-byte hello, and a 16 KiB body (`/bytes`, Content-Length,
# the size of a typical Django page); they move by ±1k between runs, with how the workers'
# answers batch. Kernel time is not counted: this is each server's own user-space work.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build/release/berth}
for tool in valgrind callgrind_annotate h2load curl strip; do
    command -v "$tool" > /dev/null || { echo "instructions.sh: $tool is not installed" >&2; exit 2; }
done
work=$(mktemp -d /tmp/berth-instructions.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # nginx's worker runs as www-data
head -c 1024 /dev/urandom > "$work/1k.bin"
chmod 644 "$work/1k.bin"
# valgrind 3.19 cannot read the DWARF 5 Swift emits: a copy without debug info keeps the
# symbol names. It does not know openat2 either: follow_symlinks opens files with openat.
strip -g -o "$work/berth" "$binary"
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
berth_port=$(free_port)
nginx_port=$(free_port)
cat > "$work/berth.toml" <<EOF
[server]
access_log = "off"
control_socket = "$work/control.sock"
[[listen]]
bind = "127.0.0.1:$berth_port"
[[route]]
path = "/s/"
static = "$work"
follow_symlinks = true
EOF
cat > "$work/hello.toml" <<EOF
python = "$PWD/.venv/bin/python"
[server]
access_log = "off"
control_socket = "$work/control.sock"
[[listen]]
bind = "127.0.0.1:$berth_port"
[app.hello]
module = "app:app"
chdir = "$PWD/samples/hello"
workers = 2
[app.hello.isolation]
enabled = false
[[route]]
path = "/"
app = "hello"
EOF
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location /s/ { alias $work/; }
    }
}
EOF

# stop PID: SIGTERM (callgrind then writes its profile), SIGKILL after 60 s (bounded).
stop() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# total_instructions SERVER REQUESTS [h2load args...]: the server's whole run under callgrind
total_instructions() {
    local server=$1 requests=$2; shift 2
    local out="$work/callgrind.$server.$requests.out" url
    if [[ "$server" = berth-app* ]]; then
        url="http://127.0.0.1:$berth_port/"
        if [ "$server" = berth-app-16k ]; then url="http://127.0.0.1:$berth_port/bytes?n=16384"; fi
        BERTH_WORKER_PATH="$PWD/python" valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$work/berth" serve -c "$work/hello.toml" > "$work/valgrind.log" 2>&1 &
    elif [ "$server" = nginx ]; then
        url="http://127.0.0.1:$nginx_port/s/1k.bin"
        valgrind --tool=callgrind --callgrind-out-file="$out" \
            nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" > "$work/valgrind.log" 2>&1 &
    else
        url="http://127.0.0.1:$berth_port/s/1k.bin"
        BERTH_WORKER_PATH="$PWD/python" valgrind --tool=callgrind --callgrind-out-file="$out" \
            "$work/berth" serve -c "$work/berth.toml" > "$work/valgrind.log" 2>&1 &
    fi
    local pid=$!
    local ready=""
    for _ in $(seq 300); do
        curl -s -o /dev/null --max-time 5 "$url" && { ready=yes; break; }
        sleep 0.2
    done
    if [ -z "$ready" ] || ! timeout 600 h2load --h1 -n "$requests" -c 50 "$@" "$url" \
        | grep -q "succeeded, 0 failed, 0 errored"; then
        echo "instructions.sh: $server: ${ready:+some requests failed}${ready:-never answered under valgrind}" >&2
        tail -5 "$work/valgrind.log" >&2
        stop "$pid"
        exit 1
    fi
    stop "$pid"
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

# per_request SERVER [h2load args...]
per_request() {
    local small large
    small=$(total_instructions "$1" 2000 "${@:2}")
    large=$(total_instructions "$1" 12000 "${@:2}")
    echo $(((large - small) / 10000))
}

# Both servers' ETag: hex mtime and hex size.
etag=$(/usr/bin/python3 -c 'import os, sys; st = os.stat(sys.argv[1]); print(f"\"{int(st.st_mtime):x}-{st.st_size:x}\"")' "$work/1k.bin")
printf '%-26s %8s %8s %8s\n' "instructions per request" berth nginx ratio
for row in 200 304; do
    args=()
    [ "$row" = 304 ] && args=(-H "If-None-Match: $etag")
    ours=$(per_request berth "${args[@]}")
    if command -v nginx > /dev/null; then
        theirs=$(per_request nginx "${args[@]}")
        ratio=$(/usr/bin/python3 -c "print(f'{$ours / $theirs:.2f}×')")
    else
        theirs="-" ratio="-"
    fi
    printf '%-26s %8s %8s %8s\n' "static 1 KiB, $row" "$ours" "$theirs" "$ratio"
done
printf '%-26s %8s\n' "hello app, front only" "$(per_request berth-app)"
printf '%-26s %8s\n' "16 KiB app, front only" "$(per_request berth-app-16k)"
