#!/usr/bin/env bash
# The worker's GPU check (see gpu_check.py): run from the repository root on a machine with CUDA, with a Python
# that has the CUDA build of torch 2.13 and model-worker/requirements.txt installed (the worker's image has both).
# Prints the figures and keeps a copy in $OUT/gpu_check.txt (or ./gpu_check.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import torch, transformers, peft, bitsandbytes, av; assert torch.cuda.is_available(), "no CUDA"' || {
  echo "gpu_check: needs torch with CUDA, transformers, peft, bitsandbytes and av (model-worker/requirements.txt)" >&2
  exit 2
}
out=${OUT:-.}/gpu_check.txt
timeout "${GPU_CHECK_TIMEOUT_S:-480}" "$python" benchmarks/gpu_check.py 2>&1 | tee "$out"
