# nginx-lib.sh: sourced by the benchmarks to run a private reference nginx.
# start_nginx DIR PORT LOCATIONS... writes DIR/nginx.conf (1 worker, 127.0.0.1:PORT,
# logs and temp paths in DIR, the given location blocks), starts nginx in the
# foreground in the background, waits until it answers, and sets NGINX_PID.
# stop_nginx stops it. Needs: nginx (Debian nginx-light), curl.

NGINX_PID=""

find_nginx() {
  NGINX="${NGINX:-$(command -v nginx || true)}"
  if [[ -z "$NGINX" && -x /usr/sbin/nginx ]]; then NGINX=/usr/sbin/nginx; fi
  [[ -n "$NGINX" && -x "$NGINX" ]]
}

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_nginx() {
  local dir=$1 port=$2; shift 2
  local locations="$*" user_line="" extra="" status_loc="" v
  find_nginx || { echo "nginx not found (apt-get install nginx-light)" >&2; return 1; }
  [[ $EUID -eq 0 ]] && user_line="user root;"   # the worker may then use the 0700 temp dir
  v="$("$NGINX" -V 2>&1 || true)"
  [[ $v == *--without-http_uwsgi_module* ]] || extra+="    uwsgi_temp_path $dir/uwsgi_temp;"$'\n'
  [[ $v == *--without-http_scgi_module* ]] || extra+="    scgi_temp_path $dir/scgi_temp;"$'\n'
  [[ $v == *--without-http_fastcgi_module* ]] || extra+="    fastcgi_temp_path $dir/fastcgi_temp;"$'\n'
  [[ $v == *--without-http_proxy_module* ]] || extra+="    proxy_temp_path $dir/proxy_temp;"$'\n'
  # stub_status lets a benchmark count the TCP connections each client opened.
  [[ $v == *--with-http_stub_status_module* ]] &&
    status_loc="location = /nginx_status { default_type text/plain; stub_status; }"
  cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
worker_rlimit_nofile 8192;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
$extra    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type application/json;
    server {
        listen 127.0.0.1:$port backlog=4096;
        server_name localhost;
        $locations
        $status_loc
        location / { return 404 '{"error":"not found"}'; }
    }
}
CONF
  local args=(-p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;')
  [[ "$("$NGINX" -h 2>&1 || true)" == *"-e filename"* ]] && args+=(-e "$dir/error.log")
  "$NGINX" "${args[@]}" -t >"$dir/nginx-t.log" 2>&1 ||
    { cat "$dir/nginx-t.log" >&2; return 1; }
  "$NGINX" "${args[@]}" >"$dir/nginx.out" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 100); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    curl -fsS -o /dev/null "http://127.0.0.1:$port/nginx_status" 2>/dev/null && return 0
    curl -sS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null
  echo "nginx did not come up on 127.0.0.1:$port" >&2
  return 1
}

stop_nginx() {
  if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  NGINX_PID=""
}
