#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA card whose python3 has a CUDA build of
# torch (scorelab runs from src/, no install): the CUDA tests, the benchmarks on the card,
# the digits experiment, and the CLI/estimator tests with device auto -> CUDA.
#
#   OUT=gpu_out bash benchmarks/gpu.sh 2>&1 | tee gpu_out/log.txt   # ~11 minutes at most
#
# Each stage has its own time limit. $OUT gets results.tgz (benchmark tables, the digits
# metrics and pictures), re-packed after every stage so a stage cut short loses nothing that
# came before it. torchebm is installed from .whl/ if that folder holds its wheel.
# DIGITS_ARGS (e.g. --quick) goes to the digits experiment.
set -u
OUT=${OUT:-gpu_out}
WORK=${WORK:-/tmp/scorelab_gpu}
PY=${PY:-python3}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

stage() {  # stage NAME SECONDS COMMAND...: run it under a time limit, then pack the results
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit} s) $(date +%T)"
    local t0=$SECONDS
    timeout "$limit" "$@"
    echo "=== $name: exit $? after $((SECONDS - t0)) s"
    tar czf "$OUT/results.tgz" --exclude=model -C "$WORK" . 2>/dev/null
}

if ls .whl/torchebm-*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" .whl/torchebm-*.whl \
        && export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"

stage cuda-tests 120 $PY -m pytest -q -p no:cacheprovider tests/reliability/test_cuda.py
stage bench 170 $PY benchmarks/run.py --device cuda --out "$WORK/bench"
stage digits 200 $PY -m scorelab experiment digits --out "$WORK" ${DIGITS_ARGS:-}
stage cli-tests 150 $PY -m pytest -q -p no:cacheprovider -n 8 tests/estimator_cli tests/samplers
