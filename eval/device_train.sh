#!/usr/bin/env bash
# Train the GLiNER model on a lent GPU machine that has PyTorch but no network.
# Carried in .carry/ (ignored by git): whl/ (gliner + the core's small deps),
# backbone/ (all-MiniLM-L6-v2 as fp16 safetensors, cast back to fp32 when loaded),
# fewnerd/inter/ (the Few-NERD INTER splits). Usage on the device:
#   bash eval/device_train.sh start     # installs, launches uni- and bi-encoder runs
#   bash eval/device_train.sh wait OUT  # waits for both, copies summaries + best model
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .carry/whl/*.whl >/dev/null
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export ZEROSHOT_FEWNERD_DIR=$PWD/.carry/fewnerd
# the repo layout installs schemas/ and prompts/ as zeroshot.schemas/.prompts
ln -sfn ../schemas zeroshot/schemas
ln -sfn ../prompts zeroshot/prompts
RUNS=/tmp/runs
case "${1:-start}" in
  start)
    mkdir -p $RUNS
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -c "import torch, transformers, gliner; print(torch.__version__, transformers.__version__, gliner.__version__)"
    for kind in uni bi; do
      flag=""; [ $kind = bi ] && flag="--bi-encoder"
      setsid nohup python3 eval/train_gliner.py --backbone .carry/backbone $flag \
        --out $RUNS/$kind --eval-thresholds 0.3,0.4,0.5 > $RUNS/$kind.log 2>&1 < /dev/null &
    done
    ;;
  wait)
    out=${2:?output folder}
    limit=${3:-540}
    for _ in $(seq 1 $((limit / 10))); do
      [ -f $RUNS/uni/summary.json ] && [ -f $RUNS/bi/summary.json ] && break
      sleep 10
    done
    for kind in uni bi; do
      tail -c 3000 $RUNS/$kind.log | tr '\r' '\n' | grep -v "it/s\]" | tail -5 || true
      [ -f $RUNS/$kind/summary.json ] && cp $RUNS/$kind/summary.json "$out/summary_$kind.json"
    done
    # the uni-encoder model (58 MB) comes back in parts of at most 15 MiB
    if [ -f $RUNS/uni/model/model.safetensors ]; then
      tar -C $RUNS/uni -cf - model | split -b 15m - "$out/uni_model.tar.part-"
    fi
    ;;
esac
