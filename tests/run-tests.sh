#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every test program given on the command line, each under a timeout, counts
# cmocka cases (a program that is not cmocka counts as one case), exit 77 = skipped,
# and ends with the one summary line `N passed, M failed`.
set -u
passed=0 failed=0 skipped=0
failed_names=()
limit=${PAGEBUS_TEST_TIMEOUT:-300}
for t in "$@"; do
	name=$(basename "$t")
	log=$(mktemp)
	timeout --kill-after=10 "$limit" "$t" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\..*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	s=$(grep -c '^\[  SKIPPED \]' "$log")
	if [ "$rc" = 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP  $name: $(tail -n 1 "$log")"
	elif [ "$p" = 0 ] && [ "$f" = 0 ]; then
		# not a cmocka program (or it died before its summary): one case
		if [ "$rc" = 0 ]; then passed=$((passed + 1)); echo "PASS  $name"
		else failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL  $name (exit $rc)"; cat "$log"; fi
	else
		passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
		if [ "$f" != 0 ] || [ "$rc" != 0 ]; then
			[ "$f" = 0 ] && failed=$((failed + 1))
			failed_names+=("$name")
			echo "FAIL  $name ($p passed, $f failed, exit $rc)"; cat "$log"
		else
			echo "PASS  $name ($p cases)"
		fi
	fi
	rm -f "$log"
done
[ "$skipped" != 0 ] && echo "$skipped skipped"
[ "${#failed_names[@]}" != 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
