# Sourced by the other scripts: where builds and tools live. A persistent target dir outside
# the clone keeps CI and repeated runs incremental.
export BIDSEAL_TOOLS_DIR=${BIDSEAL_TOOLS_DIR:-/var/cache/bidseal}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BIDSEAL_TOOLS_DIR/target}
export PATH="$HOME/.cargo/bin:$BIDSEAL_TOOLS_DIR/venv/bin:$PATH"
