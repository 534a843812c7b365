# Shared by the project's scripts: paths, the tool environment, and messages.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tools and build output are cached outside the clone so a fresh clone on the
# same machine reuses them; a new machine builds them once.
MUSTER_CACHE="${MUSTER_CACHE:-$HOME/.cache/muster}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MUSTER_CACHE/target}"
export PATH="$HOME/.cargo/bin:$MUSTER_CACHE/tools/node_modules/.bin:$PATH"

# cargo-leptos builds debug output with these; every other cargo command gets
# the same, so they share one build instead of invalidating each other's.
export RUSTFLAGS="${MUSTER_RUSTFLAGS:---cfg erase_components}"
export LEPTOS_OUTPUT_NAME=muster

CARGO_LEPTOS_VERSION=0.3.4
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_VALIDATOR_VERSION=0.9.0
PY_TOOLS="$MUSTER_CACHE/py"
BINARYEN_VERSION=132.0.0

# The release site, kept apart from the debug one in target/site: a server
# must be served the WASM of its own build (debug with debug), or hydration
# fails.
RELEASE_SITE="$ROOT/target/site-release"

# Builds the release site: the server (`$CARGO_TARGET_DIR/release/muster`) and
# the WASM split per page (`#[lazy_route]`) into $RELEASE_SITE, so a browser
# loads a page's code when it first shows it. The split modules need the WASM
# built without reference types (wasm-bindgen rewrites externref calls in the
# main module only); the server's flags stay those of every other build.
build_release_site() {
  (
    local flags="$RUSTFLAGS"
    unset RUSTFLAGS
    export CARGO_BUILD_RUSTFLAGS="$flags"
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$flags -C target-feature=-reference-types"
    export LEPTOS_SITE_ROOT="$RELEASE_SITE"
    cd "$ROOT" && cargo leptos build --release --split
  )
}

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version Cargo.lock pins; wasm-bindgen-cli must match it exactly.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Whether a PostgreSQL server answers at the host and port of URL $1.
postgres_reachable() {
  local hostport host port
  hostport="${1#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
  host="${hostport%%:*}"; port="${hostport##*:}"
  [ "$port" = "$hostport" ] && port=5432
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# A TCP port nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
