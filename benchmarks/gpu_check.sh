#!/usr/bin/env bash
# The checks only a GPU can show, in one command, ending with one table:
#   1. the test suite with the models on CUDA (GANSEMANTICS_TEST_DEVICE=cuda);
#   2. the Jacobian benchmark at 256 and 1024 with default channels (reference timed on a subset);
#   3. the SeFa benchmark.
#
#   benchmarks/gpu_check.sh              # on a machine with CUDA
#   benchmarks/gpu_check.sh --dry-run    # CPU, tiny sizes: checks this script itself in a minute or two
#   benchmarks/gpu_check.sh --tests-only         # step 1 alone (say, beside a training run)
#   benchmarks/gpu_check.sh --benchmarks-only    # steps 2 and 3 alone (on a GPU nothing else uses)
#
# Results (JSON per step, the table, the test log) go to $GPU_CHECK_OUT (default gpu_check_results/).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$here/.venv/bin/python}"
[ -x "$python" ] || python=python3
out="${GPU_CHECK_OUT:-gpu_check_results}"
mkdir -p "$out"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"

steps=all
dry_run=no
for arg in "$@"; do
  case "$arg" in
    --tests-only) steps=tests ;;
    --benchmarks-only) steps=benchmarks ;;
    --dry-run) dry_run=yes ;;
    *) echo "gpu_check: unknown option $arg (--dry-run, --tests-only, --benchmarks-only)" >&2; exit 2 ;;
  esac
done

if [ $dry_run = yes ]; then
  device=cpu
  tests=(tests/test_contract.py -q -x)
  jac=("--res 32 --channel_max 32 --w_dim 64 --samples 1 --reference_rows 16"
       "--res 64 --channel_max 32 --w_dim 64 --samples 1 --reference_rows 16")
  sefa="--resolution 64 --repeats 1 --script_repeats 1"
else
  device=cuda
  if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: CUDA is not available here (use --dry-run to check the script on CPU)" >&2
    exit 2
  fi
  tests=(tests -q)
  if [ ! -x "${GANSEMANTICS_CHROMIUM:-/usr/bin/chromium}" ]; then
    # The browser tests drive the editor in Chromium (CI runs them); a GPU box without it skips them here.
    echo "gpu_check: no Chromium here, so tests/test_interface_browser.py is left out"
    tests+=(--ignore=tests/test_interface_browser.py)
  fi
  jac=("--res 256 --samples 2 --reference_rows 64" "--res 1024 --samples 1 --reference_rows 16")
  sefa="--resolution 1024 --repeats 5 --script_repeats 2"
fi

status=0
if [ $steps != benchmarks ]; then
  echo "== tests on $device"
  start=$(date +%s)
  (cd "$here" && GANSEMANTICS_TEST_DEVICE=$device "$python" -m pytest "${tests[@]}") > "$out/tests.log" 2>&1
  tests_rc=$?
  tail -n 3 "$out/tests.log"
  echo "{\"device\": \"$device\", \"exit_code\": $tests_rc, \"seconds\": $(( $(date +%s) - start )), \"summary\": \"$(tail -n 1 "$out/tests.log" | tr -d '"=')\"}" > "$out/tests.json"
  [ $tests_rc -eq 0 ] || status=1
  [ $steps = tests ] && exit $status
fi

for i in "${!jac[@]}"; do
  echo "== bench_jacobian.py ${jac[$i]}"
  # shellcheck disable=SC2086
  "$python" "$here/benchmarks/bench_jacobian.py" ${jac[$i]} --device $device --json_out "$out/jacobian_$i.json" \
    | tail -n 4 || status=1
done

echo "== bench_sefa.py $sefa"
# shellcheck disable=SC2086
"$python" "$here/benchmarks/bench_sefa.py" $sefa --device $device --json_out "$out/sefa.json" | tail -n 6 || status=1

echo
"$python" "$here/benchmarks/gpu_table.py" "$out" | tee "$out/table.md"
exit $status
