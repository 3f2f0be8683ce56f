# Sourced by the scripts: where builds go and which Python runs the sandbox.
# The target directory lives outside the clone so that CI and fresh clones
# reuse the (slow, ~9 minute) first build of the AWS SDK crates.
: "${CARGO_TARGET_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/berth-build/target}"
export CARGO_TARGET_DIR
BERTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BERTH_VENV="$BERTH_ROOT/.venv"
export BERTH_ROOT BERTH_VENV
