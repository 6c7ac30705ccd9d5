#!/usr/bin/env bash
# The whole suite in two lanes at once; exit status non-zero when either lane fails.
#
# Why two lanes: the Ray tests (tests/serving) spend most of their time waiting on Ray Serve
# (replicas starting, autoscaling delays, deploy timeouts). Run beside the PostgreSQL pass on
# 2 cores they used 59 % of the machine, and neither lane got slower (Ray 8:09 beside it
# against 7:58 alone; PostgreSQL 2:48 against 3:02). So they run in a background lane with the
# PostgreSQL pass, while the rest of the suite runs in the foreground. The background lane's
# output is printed when both are done.
#
# Usage: scripts/test.sh PYTHON
set -uo pipefail
python=${1:?usage: scripts/test.sh PYTHON}

# The store-facing API tests run a second time on a throwaway local PostgreSQL server (not the
# kill -9 test: its service subprocesses keep their own SQLite whatever --database says).
postgres_tests=(
    tests/store tests/cli/test_db.py tests/api/test_speakers.py tests/api/test_files.py
    tests/api/test_fine_tuning.py tests/api/routers/test_glossaries.py tests/api/test_namespaces.py
    tests/api/test_services.py tests/api/test_shared_artifacts.py tests/api/test_corrections.py
)
kill_9=tests/api/test_services.py::test_kill_9_at_random_points_leaves_a_consistent_service

side=$(mktemp -d)
trap 'rm -rf "$side"' EXIT
(
    # Its own pytest temp root and no shared cache: two sessions must not clean up each other.
    lane=(-q -p no:cacheprovider --basetemp "$side/tmp")
    "$python" -m pytest "${lane[@]}" --durations=10 tests/serving
    ray=$?
    "$python" -m pytest "${lane[@]}" --database postgresql "${postgres_tests[@]}" --deselect "$kill_9"
    postgres=$?
    exit $((ray || postgres))
) >"$side/log" 2>&1 &
background=$!

"$python" -m pytest -q --durations=20 --ignore tests/serving
foreground=$?
wait "$background"
background_status=$?

echo
echo "=== background lane: tests/serving (Ray), then the PostgreSQL pass ==="
cat "$side/log"
exit $((foreground || background_status))
