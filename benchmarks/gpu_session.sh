#!/usr/bin/env bash
# One GPU session's checks and measurements, prepared to fit a short loan of a GPU machine.
#
#   OUT=/tmp/gpu-out bash benchmarks/gpu_session.sh [END_AT_SECONDS]
#
# Phase 1, on a quiet GPU (timings are reported from it): the two frontier recipes
# (configs/fmnist-speedrun.yaml over seeds 0, 1, 2, and configs/fmnist-best.yaml at full length)
# timed by benchmarks/time_to_accuracy.py; with TARGETS=1 also benchmarks/gpu_targets.py (time to
# 94%, cnnzoo's step against the classic DataLoader loop, ResNet-50 at 224 px against
# torchvision's own loop, torch.compile).
# Phase 2, accuracy only (runs share the GPU, so their times are not figures): the jobs of
# benchmarks/gpu_jobs.txt (one `NAME<TAB>COMMAND` per line, most important first) in parallel
# processes until END_AT_SECONDS (default 545) after the start: the CUDA tests (`pytest -m gpu
# tests/gpu`: each precision, resume, EMA, channels_last, torch.compile, torchrun with NCCL, export
# and predict, bench, parity with the installed torchvision and timm computed on the GPU), the
# ablation pairs, candidates of the accuracy recipe, the lesson recipes at full length for their
# per-epoch curves.
# Everything lands in $OUT: session.log, gpu_tests.log, time_to_accuracy.json, runs.tar.gz (every
# run's summary.json and metrics.jsonl, every ablation pair's result file in ablation-results/, in
# the format benchmarks/ablations.py page reads) and jobs.tar.gz (each job's log).
#
# On a machine without network, Fashion-MNIST travels in .carry/datasets/fashion-mnist (git-ignored;
# `mkdir -p .carry/datasets && cp -r /usr/share/datasets/fashion-mnist .carry/datasets/`), which
# is then searched instead of the system folders.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
END_AT=${1:-545}  # seconds after the start by which phase 2 stops (collecting follows)
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

say "phase 1 (quiet GPU, timed): the speedrun recipe, three seeds"
timeout 120 $PY benchmarks/time_to_accuracy.py fmnist-speedrun --device cuda --repeats 3 --seeds >>"$LOG" 2>&1
say "time_to_accuracy fmnist-speedrun exit $?"

say "phase 1 (quiet GPU, timed): the accuracy recipe at full length"
timeout 150 $PY benchmarks/time_to_accuracy.py fmnist-best --device cuda --repeats 1 >>"$LOG" 2>&1
say "time_to_accuracy fmnist-best exit $?"

if [ -n "${TARGETS:-}" ]; then  # issue 22's figures: time to 94%, the step against the classic loop
    say "phase 1: gpu_targets.py"
    timeout 170 $PY benchmarks/gpu_targets.py --recipe fmnist-94-10min --repeats 1 --rounds 3 --compile >>"$LOG" 2>&1
    say "gpu_targets exit $?"
fi
fi
say "phase 2: parallel jobs until +${END_AT}s"
export OMP_NUM_THREADS=1  # many launch-bound processes on 16 cores
# MPS lets the small kernels of several processes share the GPU at once; without it the jobs still
# run, time-sliced. Checked with one allocation first, and switched off again if that fails.
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
mkdir -p /tmp/mps /tmp/mps-log
if [ -z "${DRY_RUN:-}" ] && nvidia-cuda-mps-control -d 2>>"$LOG" && timeout 20 $PY -c 'import torch; torch.ones(1).cuda().sum().item()'; then
    say "MPS on"
else
    echo quit | nvidia-cuda-mps-control 2>/dev/null
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
    say "MPS unavailable: time-sliced"
fi
RUNS=/tmp/gpu-runs
mkdir -p "$RUNS" "$OUT/jobs"
DEADLINE=$(( T0 + END_AT ))
export RUNS DEADLINE PY OUT
grep -v '^#' "$JOBS_FILE" | grep . | xargs -P "${JOBS:-16}" -d '\n' -I{} bash -c '
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
