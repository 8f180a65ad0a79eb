# Shared by the bench/*.sh scripts (sourced, not run).

# need <command> <Debian package>: installs the package when the command is missing.
need() {
  command -v "$1" >/dev/null && return
  echo "installing $2" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
