#!/usr/bin/env bash
# Train GLiNER models on a lent GPU machine that has PyTorch but no network.
# Carried in .carry/ (ignored by git): whl/ (gliner + the core's small deps),
# backbone/ (all-MiniLM-L6-v2 as fp16 safetensors, cast back to fp32 when loaded),
# fewnerd/inter/ (the Few-NERD INTER splits). Usage on the device:
#   bash eval/device_train.sh start CONFIG...  # installs, trains the configs one after another
#                                              # in the background (one GPU run at a time)
#   bash eval/device_train.sh wait OUT [LIMIT_S] [BEAT]
#       waits for all runs, copies their summaries to OUT, and packs the model of the
#       best run (strict F1 at its config's eval_threshold) into OUT/model.tar.part-*
#       when it scores above BEAT (default 0: always)
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
    shift
    mkdir -p $RUNS
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    python3 -c "import torch, transformers, gliner; print(torch.__version__, transformers.__version__, gliner.__version__)"
    printf '%s\n' "$@" > $RUNS/configs
    setsid nohup bash -c '
      while read -r cfg; do
        name=$(basename "$cfg" .json)
        python3 eval/train_gliner.py --config "$cfg" --backbone .carry/backbone \
          --out '$RUNS'/$name --eval-thresholds 0.3,0.4,0.5 > '$RUNS'/$name.log 2>&1 < /dev/null
      done < '$RUNS'/configs' > $RUNS/runner.log 2>&1 < /dev/null &
    ;;
  wait)
    out=${2:?output folder}
    limit=${3:-540}
    beat=${4:-0}
    names=$(xargs -n1 basename < $RUNS/configs | sed 's/\.json$//')
    for _ in $(seq 1 $((limit / 10))); do
      all=1
      for n in $names; do [ -f $RUNS/$n/summary.json ] || all=0; done
      [ $all = 1 ] && break
      sleep 10
    done
    for n in $names; do
      echo "== $n"
      tail -c 3000 $RUNS/$n.log 2>/dev/null | tr '\r' '\n' | grep -v "it/s\]" | tail -4 || true
      [ -f $RUNS/$n/summary.json ] && cp $RUNS/$n/summary.json "$out/summary_$n.json"
    done
    best=$(python3 - "$beat" $names <<'PY'
import json, sys
from pathlib import Path
beat, best, name = float(sys.argv[1]), None, ""
for n in sys.argv[2:]:
    p = Path("/tmp/runs") / n / "summary.json"
    if p.exists():
        s = json.loads(p.read_text())
        f1 = s["eval"][str(s["config"]["eval_threshold"])]["strict"]["f1"]
        print(f"{n}: strict F1 {f1:.4f} at {s['config']['eval_threshold']}", file=sys.stderr)
        if f1 > beat and (best is None or f1 > best):
            best, name = f1, n
print(name)
PY
)
    if [ -n "$best" ]; then
      echo "packing $best"
      tar -C $RUNS/$best -cf - model | split -b 15m - "$out/model.tar.part-"
    fi
    ;;
esac
