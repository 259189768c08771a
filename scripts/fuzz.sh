#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target of the module (found with `go test -list`)
# for a fixed time each and prints, per target, the execs done and whether it
# found a crasher. Not part of make test: it is open-ended by nature.
#   FUZZTIME=30s scripts/fuzz.sh
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20s}
status=0
printf '%-40s %-28s %12s  %s\n' target package execs result
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
		out=$(go test -buildvcs=false -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1)
		rc=$?
		# The last progress line carries the total: "fuzz: elapsed: 20s, execs: 123456 (...)".
		execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | grep -o '[0-9]*')
		result=ok
		if [ $rc -ne 0 ]; then
			result="CRASH: $(printf '%s\n' "$out" | grep -m1 -E 'Failing input written to|panic:|--- FAIL' || echo "exit $rc")"
			status=1
		fi
		printf '%-40s %-28s %12s  %s\n' "$target" "${pkg#couchplay/}" "${execs:-?}" "$result"
	done
done
exit $status
