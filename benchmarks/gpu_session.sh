#!/usr/bin/env bash
# One GPU session's checks and measurements, prepared to fit a short loan of a GPU machine.
#
#   OUT=/tmp/gpu-out bash benchmarks/gpu_session.sh [PHASE2_SECONDS]
#
# Phase 1, on a quiet GPU (timings are reported from it):
#   - the CUDA tests: `pytest -m gpu tests/gpu` (each precision, resume, EMA, channels_last,
#     torch.compile, torchrun with NCCL, export and predict, bench, parity with the installed
#     torchvision and timm computed on the GPU);
#   - benchmarks/gpu_targets.py: time to 94% on Fashion-MNIST (configs/fmnist-94-10min.yaml),
#     cnnzoo's step against the classic DataLoader loop, ResNet-50 at 224 px against torchvision's
#     own loop (fp32 and bf16 + channels_last), and cnnzoo's ResNet-50 under torch.compile.
# Phase 2, accuracy only (runs share the GPU, so their times are not figures): the jobs of
# benchmarks/gpu_jobs.txt (one `NAME<TAB>COMMAND` per line, most important first) in parallel
# processes until PHASE2_SECONDS (default 200) have passed: recipes at full length for their
# per-epoch curves, candidates of the frontier recipes, the ablation pairs.
# Everything lands in $OUT: session.log, gpu_tests.log, gpu_targets.json and runs.tar.gz (every
# run's summary.json and metrics.jsonl, every ablation pair's result file in ablation-results/, in
# the format benchmarks/ablations.py page reads).
#
# On a machine without network, Fashion-MNIST travels in .carry/datasets/fashion-mnist (git-ignored;
# `mkdir -p .carry/datasets && cp -r /usr/share/datasets/fashion-mnist .carry/datasets/`), which
# is then searched instead of the system folders.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
PHASE2=${1:-200}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export CNNZOO_BENCH_RESULTS="$OUT"
if [ -d .carry/datasets ]; then export CNNZOO_SYSTEM_DATA="$PWD/.carry/datasets"; fi
PY=${PYTHON:-python3}
T0=$(date +%s)
LOG="$OUT/session.log"
say() { echo "== +$(( $(date +%s) - T0 ))s $*" | tee -a "$LOG"; }

JOBS_FILE=${JOBS_FILE:-benchmarks/gpu_jobs.txt}
if [ -n "${DRY_RUN:-}" ]; then  # a rehearsal of phase 2 on a CPU machine: JOBS_FILE with --device cpu jobs
    say "dry run: phase 2 only"
else
say "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
  $PY -c 'import torch, torchvision, timm; print("torch", torch.__version__, "cuda", torch.version.cuda,
"torchvision", torchvision.__version__, "timm", timm.__version__)'; } 2>&1 | tee -a "$LOG"

say "phase 1: CUDA tests"
timeout 130 $PY -m pytest -q -p no:cacheprovider -m gpu tests/gpu --timeout 120 -n 4 >"$OUT/gpu_tests.log" 2>&1
say "tests exit $?: $(tail -1 "$OUT/gpu_tests.log")"

say "phase 1: gpu_targets.py"
timeout 170 $PY benchmarks/gpu_targets.py --recipe fmnist-94-10min --repeats 1 --rounds 3 --compile >>"$LOG" 2>&1
say "gpu_targets exit $?"

say "phase 1: the speedrun recipe's GPU time"
timeout 60 $PY benchmarks/time_to_accuracy.py fmnist-speedrun --device cuda --repeats 3 >>"$LOG" 2>&1
say "time_to_accuracy exit $?"

fi
say "phase 2: parallel jobs for ${PHASE2}s"
# MPS lets the small kernels of several processes share the GPU at once; without it the jobs still
# run, time-sliced. Checked with one allocation first, and switched off again if that fails.
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
mkdir -p /tmp/mps /tmp/mps-log
if [ -z "${DRY_RUN:-}" ] && nvidia-cuda-mps-control -d 2>>"$LOG" && timeout 60 $PY -c 'import torch; torch.ones(1).cuda().sum().item()'; then
    say "MPS on"
else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    say "MPS unavailable: time-sliced"
fi
RUNS=/tmp/gpu-runs
mkdir -p "$RUNS" "$OUT/jobs"
DEADLINE=$(( $(date +%s) + PHASE2 ))
export RUNS DEADLINE PY OUT
grep -v '^#' "$JOBS_FILE" | grep . | xargs -P "${JOBS:-12}" -d '\n' -I{} bash -c '
    name=${1%%	*}; cmd=${1#*	}; left=$(( DEADLINE - $(date +%s) ))
    if [ "$left" -le 5 ]; then echo "$name: not started (deadline)"; exit 0; fi
    t=$(date +%s); timeout "$left" bash -c "$cmd" >"$OUT/jobs/$name.log" 2>&1; rc=$?
    echo "$name: exit $rc after $(( $(date +%s) - t ))s"' _ {} | tee -a "$LOG"
echo quit | nvidia-cuda-mps-control 2>/dev/null
say "collect"
(cd "$RUNS" && find . \( -name '*.json' -o -name '*.jsonl' \
    \) -print0 | tar --null -czf "$OUT/runs.tar.gz" -T -)
tar -czf "$OUT/jobs.tar.gz" -C "$OUT" jobs && rm -rf "$OUT/jobs"
say "done"
