#!/usr/bin/env bash
# Installs what the build needs and proves it works: protobuf-compiler and clang for the node,
# and a Rust toolchain that can build the runtime's wasm.
#
# Idempotent and quick when everything is present. Writes the environment the build needs to
# "$SETUP_ENV_FILE" (default: $CACHE_DIR/toolchain.env, sourced by the Makefile).
#
# Two routes to a wasm-capable toolchain:
#  1. rustup can download targets: `rustup target add wasm32v1-none` + rust-src. Done.
#  2. rustup cannot (offline machines, this project's CI): Debian's rustc-web 1.96 (+ cargo-web,
#     rust-web-src, lld-19) is linked into rustup as the toolchain `deb`, `rust-lld` is exposed
#     to it, and the wasm32v1-none core/alloc libraries are built once from rust-web-src.
#     The runtime is then built with WASM_BUILD_TOOLCHAIN=deb and WASM_BUILD_STD=1 (the builder's
#     thin-LTO link needs core/alloc compiled inside the runtime build) and with
#     `--allow-undefined`, which rustc >= 1.96 no longer passes for wasm32v1-none.
set -euo pipefail

CACHE_DIR=${CACHE_DIR:-$HOME/.cache/sparseloco-chain}
SETUP_ENV_FILE=${SETUP_ENV_FILE:-$CACHE_DIR/toolchain.env}
WASM_TARGET=wasm32v1-none
mkdir -p "$CACHE_DIR"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get: install them by hand"
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq || die "apt-get update failed"; apt_updated=1; fi
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs) first"
command -v rustup >/dev/null || die "rustup not found: this setup links toolchains through rustup"

# Native build dependencies of the node (litep2p needs protoc; bindgen needs libclang).
apt_install protobuf-compiler clang libclang-dev

# A tiny no_std wasm crate: the proof that a toolchain can build and link runtime wasm.
probe_wasm() { # $1 = toolchain (empty for the default), extra env in the caller
  local dir="$CACHE_DIR/wasm-probe"
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<'TOML'
[package]
name = "wasm-probe"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[profile.release]
panic = "abort"
[workspace]
TOML
  cat > "$dir/src/lib.rs" <<'RS'
#![no_std]
extern crate alloc;
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
struct Bump;
unsafe impl core::alloc::GlobalAlloc for Bump {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 { core::ptr::null_mut() }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}
#[global_allocator]
static A: Bump = Bump;
#[link(wasm_import_module = "env")]
extern "C" { fn host_log(x: u32); }
#[no_mangle]
pub extern "C" fn probe(n: u32) -> u32 {
    let v: alloc::vec::Vec<u32> = (0..n).collect();
    let s = v.iter().sum();
    unsafe { host_log(s) };
    s
}
RS
  local tc=()
  [ -n "$1" ] && tc=("+$1")
  (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo "${tc[@]}" build --release --quiet --target "$WASM_TARGET" 2>"$dir/err.log") \
    && [ -s "$dir/target/$WASM_TARGET/release/wasm_probe.wasm" ]
}

write_env() { printf '%s\n' "$@" > "$SETUP_ENV_FILE"; say "toolchain environment written to $SETUP_ENV_FILE"; }

# Route 1: a rustup that can fetch the target (WASM_TOOLCHAIN_ROUTE=deb forces route 2).
if [ "${WASM_TOOLCHAIN_ROUTE:-}" != deb ] && { rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET" \
   || timeout 120 rustup target add "$WASM_TARGET" >/dev/null 2>&1; }; then
  timeout 120 rustup component add rust-src >/dev/null 2>&1 || true
  if probe_wasm ""; then
    write_env "# route: rustup target $WASM_TARGET"
    say "ok: default toolchain builds $WASM_TARGET"
    exit 0
  fi
  say "the default toolchain has $WASM_TARGET but cannot link a probe crate; trying Debian's toolchain"
fi

# Route 2: Debian's rustc-web, offline.
apt_install rustc-web cargo-web rust-web-src lld-19
[ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || die "rustc-web/cargo-web did not install /usr/bin/rustc and /usr/bin/cargo"
rustup toolchain list | grep -q '^deb' || rustup toolchain link deb /usr >/dev/null \
  || die "could not link /usr as the rustup toolchain 'deb'"

sysroot=$(rustc +deb --print sysroot)
host=$(rustc +deb -vV | sed -n 's/^host: //p')
# rustc looks for the wasm linker `rust-lld` in its sysroot's host bin directory.
lld=/usr/lib/llvm-19/bin/lld
[ -x "$lld" ] || die "lld-19 is installed but $lld is missing"
if [ ! -x "$sysroot/lib/rustlib/$host/bin/rust-lld" ]; then
  as_root mkdir -p "$sysroot/lib/rustlib/$host/bin"
  as_root ln -sf "$lld" "$sysroot/lib/rustlib/$host/bin/rust-lld"
fi

# core/alloc for wasm32v1-none, built once from rust-web-src (the builder checks they exist).
libdir="$sysroot/lib/rustlib/$WASM_TARGET/lib"
if ! ls "$libdir"/libcore-*.rlib >/dev/null 2>&1; then
  [ -d "$sysroot/lib/rustlib/src/rust/library/core" ] || die "rust-web-src did not install the library sources"
  say "building core/alloc for $WASM_TARGET from source (once)"
  dir="$CACHE_DIR/wasm-sysroot"
  mkdir -p "$dir/src"
  printf '[package]\nname = "wasm-sysroot"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' > "$dir/Cargo.toml"
  printf '#![no_std]\nextern crate alloc;\n' > "$dir/src/lib.rs"
  (cd "$dir" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-C embed-bitcode=yes" CARGO_TARGET_DIR="$dir/target" \
     cargo +deb build --release --quiet --target "$WASM_TARGET" -Z build-std=core,alloc) \
    || die "building core/alloc for $WASM_TARGET failed (see above)"
  as_root mkdir -p "$libdir"
  as_root cp "$dir/target/$WASM_TARGET/release/deps/"lib{core,alloc,compiler_builtins,rustc_std_workspace_core}-*.rlib "$libdir/" 2>/dev/null \
    || as_root cp "$dir/target/$WASM_TARGET/release/deps/"*.rlib "$libdir/"
fi

if ! probe_wasm deb; then
  cat "$CACHE_DIR/wasm-probe/err.log" >&2
  die "the Debian toolchain cannot build a $WASM_TARGET probe crate: see the error above"
fi
write_env "# route: Debian rustc-web linked as rustup toolchain 'deb'" \
  "export WASM_BUILD_TOOLCHAIN=deb" \
  "export WASM_BUILD_STD=1" \
  "export WASM_BUILD_RUSTFLAGS='-C link-arg=--allow-undefined'"
say "ok: toolchain 'deb' ($(rustc +deb --version)) builds $WASM_TARGET"
