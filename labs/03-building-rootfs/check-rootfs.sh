#!/bin/sh
# check-rootfs.sh DIR [COMMAND]
#
# Can DIR serve as a container's root filesystem for COMMAND (default
# /bin/sh)? Checks what execve needs inside DIR — the program, the
# interpreter named by its #! line or by its ELF header, the shared
# libraries it links — and what programs and runtimes expect: mount points
# for /proc, /sys and /dev, a sticky /tmp, a root entry in /etc/passwd.
# Symlinks are followed inside DIR, as they will be once DIR is "/".
# Prints one line per check; exits 1 if the command cannot start.
#
# Containers From Scratch, chapter 3.
set -eu
root=$(cd "${1:?usage: check-rootfs.sh DIR [COMMAND]}" && pwd)
cmd=${2:-/bin/sh}
fail=0
ok() { echo "ok    $*"; }
warn() { echo "warn  $*"; }
bad() { echo "FAIL  $*"; fail=1; }

# PATH inside DIR: follow symlinks as if DIR were /
resolve() {
  p=$1 n=0
  while [ -L "$root$p" ] && [ $n -lt 40 ]; do
    t=$(readlink "$root$p")
    case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac
    n=$((n + 1))
  done
  echo "$p"
}

# where the dynamic loader looks, on Debian (multiarch) and elsewhere
find_lib() {
  for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib64 /usr/lib64 /lib /usr/lib; do
    [ -e "$root$(resolve "$d/$1")" ] && return 0
  done
  return 1
}

check_exec() { # PATH-IN-ROOT WHAT
  real=$(resolve "$1")
  if [ ! -f "$root$real" ]; then bad "$2 $1: not found in the root filesystem"; return; fi
  if [ ! -x "$root$real" ]; then bad "$2 $1: not executable"; return; fi
  if [ "$(head -c 2 "$root$real")" = '#!' ]; then
    interp=$(head -n 1 "$root$real" | sed 's/^#![[:space:]]*//; s/[[:space:]].*//')
    ok "$2 $1: a script for $interp"
    check_exec "$interp" interpreter
    return
  fi
  info=$(file -b "$root$real")
  case $info in
    *ELF*"statically linked"*|*ELF*"static-pie linked"*) ok "$2 $1: static ELF, needs nothing else" ;;
    *ELF*interpreter*)
      loader=$(echo "$info" | sed 's/.*interpreter \([^,]*\),.*/\1/')
      if [ -e "$root$(resolve "$loader")" ]; then ok "$2 $1: dynamic ELF, loader $loader present"
      else bad "$2 $1: dynamic ELF, but its loader $loader is missing (execve fails with ENOENT)"; fi
      for lib in $(readelf -d "$root$real" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        find_lib "$lib" && ok "  library $lib" || bad "  library $lib: missing"
      done ;;
    *) bad "$2 $1: not a program this kernel can run ($info)" ;;
  esac
}

check_exec "$cmd" command
for d in proc sys dev; do
  if [ -d "$root/$d" ]; then ok "/$d: a mount point is there"
  else warn "/$d: missing; a runtime creates it, unless the root is read-only"; fi
done
if [ -d "$root/tmp" ] && [ "$(stat -c %a "$root/tmp")" = 1777 ]; then ok "/tmp: mode 1777"
else warn "/tmp: missing or not mode 1777 (programs that write temporary files fail)"; fi
if grep -q '^root:' "$root/etc/passwd" 2>/dev/null; then ok "/etc/passwd: has root"
else warn "/etc/passwd: no root entry (uid 0 has no name, \$HOME is unset)"; fi
others=$(find "$root" -xdev ! -user 0 2>/dev/null | wc -l)
[ "$others" = 0 ] && ok "ownership: every file belongs to root" || warn "ownership: $others files do not belong to root"
exit $fail
