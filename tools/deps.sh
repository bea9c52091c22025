#!/bin/sh
# tools/deps.sh - installs everything the build and `make test` need on Debian/Ubuntu:
# one apt-get line (with sudo when not root), then the pinned npm packages of tests/
# (the independent GGUF parser and tokenizer, tests/package-lock.json).
#
#   sh tools/deps.sh          (what `make deps` runs; works before make is installed)
#
# Packages and why: make gcc libc6-dev (build), libcjson-dev (JSON), libpcre2-dev
# (tokenizer regexes), libmicrohttpd-dev (gds-server's HTTP), curl and chromium (the server test: HTTP, and the chat page in a headless browser), clang libclang-rt-14-dev (libFuzzer targets), gcc-aarch64-linux-gnu
# libc6-dev-arm64-cross qemu-user (NEON kernels cross-built and run under qemu), tmux
# (the interactive gds-run test), libvulkan-dev glslang-tools mesa-vulkan-drivers (the Vulkan
# backend: loader and headers, the GLSL -> SPIR-V compiler, and lavapipe, a CPU Vulkan device
# on which the tests run it without a GPU), nodejs npm (only when node is missing: the independent
# parsers run under Node.js >= 18).
# libhwloc-dev libnuma-dev: the NUMA topology (hwloc) and the page placement (libnuma) of the
# routed experts (--numa, issue 12); the build compiles without them where they do not link.
set -e
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "deps: not root and sudo is not installed: run tools/deps.sh as root" >&2; exit 1; fi
fi
PKGS="make gcc libc6-dev libcjson-dev libpcre2-dev libmicrohttpd-dev curl chromium clang libclang-rt-14-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user tmux libvulkan-dev glslang-tools mesa-vulkan-drivers libhwloc-dev libnuma-dev ca-certificates"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get install $PKGS"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
echo "deps: npm ci in tests/ (pinned by tests/package-lock.json)"
(cd tests && npm ci --silent --no-audit --no-fund)
echo "deps: done"
