#!/bin/sh
# Run each Check test program; fail if any fails.
failed=0
for t in "$@"; do
  echo "=== $t"
  if ! "$t"; then
    echo "FAILED: $t"
    failed=$((failed + 1))
  fi
done
[ "$failed" -eq 0 ] || { echo "$failed unit test program(s) failed"; exit 1; }
echo "all unit test programs passed"
