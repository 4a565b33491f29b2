#!/usr/bin/env bash
# The conformance suite in the pure cgroup v2 guest (cgroup_no_v1=all), which covers
# the v2 paths a cgroup v1 or hybrid host cannot.
#
#   conformance/vm.sh [SUITE ARGUMENTS...]      e.g. conformance/vm.sh --filter 'limits.*'
#
# Builds stockade, the suite and the probe static for x86_64-unknown-linux-musl (the
# guest has only busybox), copies them into a folder and runs the suite there as root in
# a VM booted by ../shared/tools/vm/run-in-vm.sh (or $VM_RUNNER), with the veth driver
# loaded for the private-network cases. Exit status: the suite's (run-in-vm.sh's own 124
# and 125 for a VM timeout or boot failure).
#
# Needs: qemu-system-x86 busybox-static cpio xz-utils, the musl target (rustup target
# add x86_64-unknown-linux-musl; apt-get install musl-tools). Knobs: VM_MEM, VM_CPUS,
# VM_TIMEOUT, VM_MODULES (see run-in-vm.sh), CARGO_TARGET_DIR, PROFILE (release|debug).
set -euo pipefail
cd "$(dirname "$0")/.."

runner=${VM_RUNNER:-$(realpath ../shared/tools/vm/run-in-vm.sh 2>/dev/null || true)}
[ -x "$runner" ] || { echo "vm.sh: no VM runner (set VM_RUNNER to run-in-vm.sh)" >&2; exit 2; }

target=x86_64-unknown-linux-musl
profile=${PROFILE:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
echo "== building stockade (and its monitor), the suite and the probe for $target ($profile)"
cargo build "${flag[@]}" --target "$target" -p stockade -p stockade-conformance
out=${CARGO_TARGET_DIR:-target}/$target/$profile

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# stockade-monitor: stockade executes it from beside itself for every detached environment.
for b in stockade stockade-monitor stockade-conformance stockade-probe; do
  if command -v strip >/dev/null; then strip -o "$dir/$b" "$out/$b"; else cp "$out/$b" "$dir/$b"; fi
done

echo "== running the suite in the cgroup v2 guest"
set +e
VM_LDD=0 VM_MODULES="${VM_MODULES:-veth}" "$runner" "$dir" -- ./stockade-conformance "$@"
rc=$?
set -e
echo "== conformance in the VM: exit $rc"
exit $rc
