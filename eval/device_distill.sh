#!/usr/bin/env bash
# Train the distillation experiment's students on a lent GPU machine (no network) and score
# them on Few-NERD INTER test, in one call.
#
#   bash eval/device_distill.sh LIMIT_S OUT [VARIANT...]
#
# Needs .carry/whl (gliner and the core's small dependencies, as in eval/device_general.sh)
# and .carry/fewnerd/inter/{train_part_a,train_part_b,test}.txt.gz, written by
# `python eval/distill_fewnerd.py bundle --out .carry`. The teachers' labels are committed
# (eval/results/distill/*.jsonl.gz) and joined to the carried sentences here. Each VARIANT of
# eval/configs/distill_fewnerd.json (default: all) is one `zeroshot distill --stages
# filter,student` run (fixed epochs, early stopping on the silver dev set); they run in
# parallel, spread over the GPUs, and are stopped after LIMIT_S seconds (a student not
# finished by then is left out). Then base + students are scored on all of INTER test and
# on the benchmark's seeded 500 (the teachers' sentences). Writes to OUT (at most 8 files):
#   distill_results.tar.gz  score_full/ and score_500/ (results.json, report.md, cards),
#                           each student's zeroshot_model.json + README.md, filter reports
#   logs.txt                the tail of every run's log
#   model.tar.part-*        with PACK_MODEL=VARIANT: that student's model folder, tar split
#                           into 15 MiB parts (join: cat model.tar.part-* | tar -xf -)
# Environment: DEVICE (default cuda), GPUS (default: nvidia-smi's count), EPOCHS=N fixes the
# passes over the training data (students of different N compare at equal passes), BUDGET=S gives each
# student a time budget instead (the trainer's schedule then follows the clock), SCORE=0 skips
# scoring,
# SCORE_LIMIT=N scores N sentences instead of all (smoke tests), DISTILL_CONFIG another
# variants file, RUNS the work folder (default /tmp/distill).
set -uo pipefail
limit=${1:?seconds for the students}
out=${2:?output folder}
shift 2
mkdir -p "$out"
if [ -d .carry/whl ] && [ -z "${SKIP_INSTALL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .carry/whl/*.whl >/dev/null || exit 3
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export ZEROSHOT_FEWNERD_DIR=$PWD/.carry/fewnerd
[ -e zeroshot/schemas ] || ln -sfn ../schemas zeroshot/schemas
[ -e zeroshot/prompts ] || ln -sfn ../prompts zeroshot/prompts
[ -e zeroshot/models ] || ln -sfn ../models zeroshot/models
device=${DEVICE:-cuda}
gpus=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
runs=${RUNS:-/tmp/distill}
mkdir -p "$runs"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, gliner; print('torch', torch.__version__, 'transformers', transformers.__version__, 'gliner', gliner.__version__, 'cuda', torch.cuda.is_available())"
t0=$(date +%s)
timeout "$limit" python3 eval/distill_experiment.py run "$@" --runs "$runs" \
  --device "$device" ${BUDGET:+--budget $BUDGET} ${EPOCHS:+--epochs $EPOCHS} --parallel --gpus "$gpus"
echo "students: rc $? after $(( $(date +%s) - t0 )) s"
if [ "${SCORE:-1}" != 0 ]; then
  python3 eval/distill_experiment.py score --runs "$runs" --out "$runs/score_full" \
    --device "$device" --latency-samples 0 -q ${SCORE_LIMIT:+--limit $SCORE_LIMIT} \
    > "$runs/score_full.log" 2>&1
  echo "score full: rc $? after $(( $(date +%s) - t0 )) s"
  python3 eval/distill_experiment.py score --runs "$runs" --out "$runs/score_500" --limit 500 \
    --device "$device" --latency-samples 0 -q > "$runs/score_500.log" 2>&1
  echo "score 500: rc $? after $(( $(date +%s) - t0 )) s"
fi
( cd "$runs" && for f in */distill.log score_*.log; do [ -f "$f" ] && { echo "== $f"; \
  tail -c 2500 "$f" | tr '\r' '\n' | grep -v "it/s\]" | tail -8; }; done ) > "$out/logs.txt" 2>&1
( cd "$runs" && ls -d score_*/results.json score_*/report.md score_*/card_*.md \
    */student/model/zeroshot_model.json */student/model/README.md */filter/report.json \
    */filter/report.md 2>/dev/null | tar -czf "$out/distill_results.tar.gz" -T - )
if [ -n "${PACK_MODEL:-}" ] && [ -d "$runs/$PACK_MODEL/student/model" ]; then
  tar -C "$runs/$PACK_MODEL/student" -cf - model | split -b 15m - "$out/model.tar.part-"
fi
ls -la "$out"
