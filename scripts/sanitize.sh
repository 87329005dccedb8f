#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer: the core is built with
# -fsanitize=address,undefined into .venv-sanitize (its own build folder), and pytest runs with the
# sanitizer runtimes preloaded into Python. Any finding stops the run with a report.
#
#   scripts/sanitize.sh [PYTEST ARGS...]      (default: the whole suite)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-sanitize
.venv-sanitize/bin/pip install -q '.[test]' --config-settings=build-dir=build/sanitize \
    --config-settings=cmake.define.SEQMAXENT_SANITIZE=address,undefined \
    --config-settings=cmake.build-type=RelWithDebInfo
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
# Python and the libraries it loads are not instrumented: no leak checks (CPython keeps its
# objects to the end) and no malloc/delete pairing checks across libraries.
export ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec .venv-sanitize/bin/python -m pytest "$@"
