# Sourced by the scripts that need a running server: builds nothing, starts target/debug/maillage on a free
# 127.0.0.1 port over a temporary SQLite database, waits until it answers, and kills it on exit.
# After `start_server`, $SERVER_URL is the base URL (e.g. http://127.0.0.1:41234) and $SERVER_LOG its log file.

server_pid=""
server_tmp=""

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
  if [ -n "$server_tmp" ]; then
    rm -rf "$server_tmp"
    server_tmp=""
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server BINARY [extra env assignments...]
start_server() {
  local bin=$1
  shift
  server_tmp=$(mktemp -d)
  local port
  port=$(free_port)
  SERVER_URL="http://127.0.0.1:$port"
  SERVER_LOG="$server_tmp/server.log"
  env DATABASE_URL="sqlite://$server_tmp/x.db?mode=rwc" MAILLAGE_LISTEN="127.0.0.1:$port" MAILLAGE_LOG=warn "$@" \
    "$bin" serve >"$SERVER_LOG" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do
    if curl -fsS "$SERVER_URL/healthz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "the server exited early:" >&2
      cat "$SERVER_LOG" >&2
      server_pid=""
      return 1
    fi
    sleep 0.5
  done
  echo "the server did not answer within 60 s" >&2
  cat "$SERVER_LOG" >&2
  return 1
}
