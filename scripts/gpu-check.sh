#!/usr/bin/env bash
# The GPU checks in one run, on a machine with a GPU where seqmaxent and onnxruntime-gpu import:
# the GPU tests (pytest -m gpu) and the GPU benchmark (bench/run.py --gpu, needs a CUDA build of
# PyTorch), results in $OUT (default bench/results). CUDA libraries installed as pip wheels
# (nvidia/*/lib under site-packages or a PYTHONPATH folder) are put on LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
for site in $(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") ${PYTHONPATH//:/ }; do
  for dir in "$site"/nvidia/*/lib; do
    [ -d "$dir" ] && LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
done
export LD_LIBRARY_PATH
python3 -c "from seqmaxent.network import runtime; p = runtime.providers(); print(p); assert 'CUDAExecutionProvider' in p, 'no CUDA provider'"
status=0  # the benchmark runs even if a test fails; the script fails if either did
python3 -m pytest -m gpu tests/test_resident.py -q -rs 2>&1 | tee "$out/gpu-tests.txt" || status=1
python3 bench/run.py --gpu --out "$out" 2>&1 | tee "$out/gpu-bench.txt" || status=1
exit $status
