#!/usr/bin/env bash
# Set up everything the tests need (see scripts/setup.sh) and run the whole suite: lint, then pytest.
#
# The JACK tests (marked `jack`) run module by module, each module in a pytest process of its
# own, after everything else in one. libjack keeps ONE server's graph per process, and each
# module starts a JACK server of its own (tests/conftest.py): run in one process, clients left
# from an earlier module's server corrupted the next one's graph (measured on the 2-core EPYC:
# all of tests/live's JACK tests in one process, 16 of 44 failed; each module alone, all passed).
# With arguments, pytest gets exactly them (one process), e.g. `bash scripts/test.sh tests/music`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/ruff format --check .
pytest=(.venv/bin/python -m pytest -q -p no:cacheprovider)
if [ $# -gt 0 ]; then
    exec "${pytest[@]}" "$@"
fi
mapfile -t jack_modules < <(grep -rl --include='test_*.py' "pytest.mark.jack" tests | sort)
failed=()
"${pytest[@]}" -m "not jack" || failed+=("the tests not marked jack")
# A module whose process dies by a signal (python-rtmidi's JACK client threads in the tests' own
# peers segfaulted now and then, stop 21-22; pytest's reruns cannot rerun a dead process) runs once
# more, saying so; a second death, or any ordinary failure, fails the suite.
for module in "${jack_modules[@]}"; do
    echo "== $module (JACK, a process of its own)"
    rc=0
    "${pytest[@]}" -m jack "$module" || rc=$?
    if [ "$rc" -gt 128 ]; then
        echo "== $module: its pytest process died by signal $((rc - 128)); running it once more"
        rc=0
        "${pytest[@]}" -m jack "$module" || rc=$?
    fi
    [ "$rc" -eq 0 ] || failed+=("$module")
done
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "all tests passed (${#jack_modules[@]} JACK modules in processes of their own)"
