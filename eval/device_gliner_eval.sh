#!/usr/bin/env bash
# Score GLiNER models and benchmark the runtime on a lent GPU machine (no network), one call.
#
#   bash eval/device_gliner_eval.sh OUT BUNDLE NAME=DIR[:THRESHOLDS] ...
#
# BUNDLE holds whl/ (gliner and the core's small dependencies), devsets/ (the general
# split's dev sets, eval/build_general_bundle.py) and fewnerd/inter/test.txt.gz. For each
# NAME=DIR it writes to OUT:
#   dev_NAME.json        the model on every dev set at every threshold of the grid
#                        (eval/score_devsets.py; the "before" and "after" columns of #16)
#   test_NAME.json/.md   the model on all of Few-NERD INTER test at THRESHOLDS (default: the
#                        model's own; "dev": the threshold its dev run just chose on the
#                        zero-shot dev sets) (eval/score_inter_test.py), once, for a model
#                        the dev sets already chose
# and, for the first model, the runtime benchmark (eval/bench_gliner_runtime.py: the engine
# against its bare encoder over all 14,006 INTER-test sentences, fp32/bf16 variants, the old
# engine, a stage profile) as gliner_runtime_h200.json/.md, and on a GPU a torch.profiler
# run (eval/profile_gliner_gpu.py, gliner_gpu_profile.json/.md). $ZEROSHOT_COMMIT names the
# commit (the tree is a copy without .git). DEVICE (default cuda) and LIMIT (sentences per
# set, for a CPU smoke test of this script), VARIANTS, SKIP_INSTALL, GRID (the dev
# threshold grid, comma list) and NOT_ZERO_SHOT (dev sets the models were trained on)
# change the run.
set -uo pipefail
out=${1:?output folder}
bundle=${2:?bundle folder}
shift 2
mkdir -p "$out"
if [ -z "${SKIP_INSTALL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$bundle"/whl/*.whl >/dev/null || exit 3
fi
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
export ZEROSHOT_FEWNERD_DIR=$bundle/fewnerd TOKENIZERS_PARALLELISM=false
for d in schemas prompts models; do ln -sfn ../$d zeroshot/$d; done
device=${DEVICE:-cuda}
limit=()
[ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT")
first=1
for spec in "$@"; do
  name=${spec%%=*}
  rest=${spec#*=}
  dir=${rest%%:*}
  thresholds=""
  [ "$rest" != "$dir" ] && thresholds=${rest#*:}
  t0=$(date +%s)
  python3 eval/score_devsets.py --model "$dir" --devsets "$bundle/devsets" --device "$device" \
    --batch-size 512 "${limit[@]}" --out "$out/dev_$name.json" \
    ${GRID:+--thresholds "$GRID"} ${NOT_ZERO_SHOT:+--not-zero-shot "$NOT_ZERO_SHOT"} \
    > "/tmp/dev_$name.log" 2>&1
  echo "$name dev sets: rc $? in $(( $(date +%s) - t0 )) s"
  t0=$(date +%s)
  if [ "$thresholds" = dev ]; then
    thresholds=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['scores']['best_threshold'])" "$out/dev_$name.json")
  elif [ -z "$thresholds" ]; then
    thresholds=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]+'/zeroshot_model.json'))['threshold'])" "$dir")
  fi
  python3 eval/score_inter_test.py --model "$dir" --device "$device" --thresholds "$thresholds" "${limit[@]}" \
    --out "$out" --name "test_$name" > "/tmp/test_$name.log" 2>&1
  echo "$name INTER test at $thresholds: rc $? in $(( $(date +%s) - t0 )) s"
  if [ $first = 1 ]; then
    first=0
    t0=$(date +%s)
    timeout 300 python3 eval/bench_gliner_runtime.py --device "$device" --threads 8 --model "$dir" \
      --variants "${VARIANTS:-float16,float32,bfloat16}" --old-limit "${LIMIT:-2000}" "${limit[@]}" --out "$out" \
      --name gliner_runtime_h200 > /tmp/bench.log 2>&1
    echo "runtime bench: rc $? in $(( $(date +%s) - t0 )) s"
    if [ "$device" != cpu ]; then
      t0=$(date +%s)
      timeout 150 python3 eval/profile_gliner_gpu.py --model "$dir" --device "$device" \
        "${limit[@]}" --out "$out" > /tmp/profile.log 2>&1
      echo "profile: rc $? in $(( $(date +%s) - t0 )) s"
    fi
  fi
done
for f in /tmp/dev_*.log /tmp/test_*.log /tmp/bench.log /tmp/profile.log; do
  echo "== $f"; tail -c 1500 "$f" | tr '\r' '\n' | grep -v "it/s\]" | tail -6
done
ls -la "$out"
