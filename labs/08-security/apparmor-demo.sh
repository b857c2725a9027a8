#!/usr/bin/env bash
# apparmor-demo.sh - a runts container confined by an AppArmor profile.
#
#   apparmor-demo.sh
#
# Needs a kernel with the AppArmor LSM enabled and apparmor_parser (Debian's
# apparmor package), as root: the lab VM has both (test/vm/run-in-vm.sh;
# docs/08-security.md runs this script there). It
#   1. loads the profile c08-no-mount: everything a shell needs, but no
#      mount(2), whatever capabilities the process holds (docker-default,
#      the profile Docker applies to every container, has the same rule);
#   2. makes an OCI bundle of the built-in BusyBox image (runts spec) whose
#      process holds CAP_SYS_ADMIN, so that mounting is allowed as far as
#      capabilities go (and a small seccomp profile, for the plan's sake);
#   3. runs a container that mounts a tmpfs, without the profile (it works),
#      then with process.apparmorProfile set (AppArmor denies it), and shows
#      the kernel's audit record of the denial;
#   4. shows where runts puts the two LSM steps in the plan;
#   5. unloads the profile and removes the bundle.
# Container ids: c08-aa-*.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runts() { "$repo/bin/runts" "$@"; }
[[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] || { echo "apparmor-demo: AppArmor is not enabled in this kernel (use the lab VM: test/vm/run-in-vm.sh)" >&2; exit 1; }
work=$(mktemp -d)
cleanup() { apparmor_parser -R "$work/profile" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/profile" <<'PROFILE'
profile c08-no-mount flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  unix,
  audit deny mount,
}
PROFILE
apparmor_parser -r -K "$work/profile"
echo "== loaded: $(grep '^c08-' /sys/kernel/security/apparmor/profiles)"

mkdir "$work/bundle" && cd "$work/bundle"
cp -a "$repo/dist/images/busybox/rootfs" rootfs
runts spec
jq '.process.terminal = false
    | .process.capabilities |= map_values(. + ["CAP_SYS_ADMIN"])
    | .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", syscalls: [{names: ["kexec_load"], action: "SCMP_ACT_ERRNO"}]}
    | .process.args = ["sh", "-c", "echo \"confined by: $(cat /proc/self/attr/current)\"; mount -t tmpfs c08 /tmp && echo \"mounted a tmpfs\""]' config.json > c.json
mv c.json config.json

echo "== without a profile"
runts run c08-aa-free
echo "== with process.apparmorProfile = c08-no-mount"
jq '.process.apparmorProfile = "c08-no-mount"' config.json > c.json && mv c.json config.json
runts run c08-aa-confined || echo "exit status $?"
echo "== the kernel's audit record"
dmesg | grep -o 'apparmor="DENIED" operation="mount" .*profile="c08-no-mount"' | tail -n 1

echo "== the plan: the label is written before no_new_privs, seccomp and execve"
runts plan | grep -E 'AppArmor|attr|pivot_root|PR_SET_NO_NEW_PRIVS|seccomp|execve' | sed 's/^ *[0-9]*\./  N./'
