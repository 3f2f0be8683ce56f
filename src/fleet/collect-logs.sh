# berth logs: run on a container instance by `sh -s SINCE`; writes a
# gzipped tar of the ECS diagnostic logs to stdout and its manifest to
# stderr (one `collected PATH` or `missing PATH (why)` line each).
# Reads as root with `sudo -n` where the login user may, else as itself.
since=${1:-}
S=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  S="sudo -n"
fi
d=$(mktemp -d 2>/dev/null || echo "/tmp/berth-logs.$$")
mkdir -p "$d" || exit 70
trap '$S rm -rf "$d"' EXIT
m="$d/MANIFEST"
: > "$m"
got() { echo "collected $1" >> "$m"; }
miss() { echo "missing $1 ($2)" >> "$m"; }

# The ECS agent's and ecs-init's logs (Linux), and ECS on Windows.
for path in /var/log/ecs /ProgramData/Amazon/ECS/log; do
  if [ -d "$path" ]; then
    name=$(echo "$path" | tr / _)
    if $S cp -r "$path" "$d/$name" 2>/dev/null; then got "$path"; else miss "$path" "not readable"; fi
  elif [ "$path" = /var/log/ecs ]; then
    miss "$path" "no such directory: is this an ECS container instance?"
  fi
done

# The agent's introspection API.
fetch() { curl -fsS --max-time 5 "$1" 2>/dev/null || wget -qO- -T 5 "$1" 2>/dev/null; }
for what in metadata tasks; do
  url="http://localhost:51678/v1/$what"
  if fetch "$url" > "$d/introspection-$what.json" && [ -s "$d/introspection-$what.json" ]; then
    got "$url"
  else
    rm -f "$d/introspection-$what.json"; miss "$url" "the agent's introspection API did not answer"
  fi
done

# The journal of the agent and the container runtime, for the window.
if command -v journalctl >/dev/null 2>&1; then
  if $S journalctl --no-pager ${since:+--since "$since"} -u ecs -u docker -u containerd \
       > "$d/journal.txt" 2>/dev/null; then
    got "journalctl -u ecs -u docker -u containerd${since:+ --since '$since'}"
  else
    miss "journalctl" "the journal could not be read"
  fi
else
  miss "journalctl" "no systemd journal"
fi

# The container runtime's own view.
if command -v docker >/dev/null 2>&1; then
  docker ps -a > "$d/docker-ps.txt" 2>&1 && got "docker ps -a" || miss "docker ps -a" "docker failed"
  docker info > "$d/docker-info.txt" 2>&1 && got "docker info" || miss "docker info" "docker failed"
else
  miss "docker" "not installed"
fi

# System messages.
found=
for path in /var/log/messages /var/log/syslog /var/log/docker /var/log/cloud-init-output.log; do
  if [ -r "$path" ] || $S test -r "$path" 2>/dev/null; then
    $S cp "$path" "$d/" 2>/dev/null && { got "$path"; found=1; }
  fi
done
[ -n "$found" ] || miss "/var/log/messages" "no system log file"

cat "$m" >&2
$S tar -czf - -C "$d" .
