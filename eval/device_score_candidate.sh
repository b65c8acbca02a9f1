#!/usr/bin/env bash
# Score a candidate model's exported weights on their own, on the GPU, after
# eval/device_general.sh trained it (same warm machine): the full dev sets over a grid,
# then Few-NERD INTER test once, at the threshold the dev pass chose. Where the candidate
# beats the committed model on the dev mean and then on INTER test (the shipping rule),
# the first model parts come back too (the rest with `bash eval/device_general.sh fetch OUT`).
#
#   bash eval/device_score_candidate.sh MODEL_DIR OUT NAME DEV_TO_BEAT TEST_TO_BEAT
#
# e.g. bash eval/device_score_candidate.sh /tmp/runs/general_mpnet_h/model $OUT h 0.2100 0.7049
# (config G's shipped int8 weights: dev mean 0.2100 at 0.20 over this grid, INTER test 0.7049).
# FETCH=0 returns no parts (for a call that runs eval/device_general.sh first, which already
# returns four: a call returns at most 8 files, 64 MiB).
set -uo pipefail
model=${1:?model dir}
out=${2:?output folder}
name=${3:?name}
dev_to_beat=${4:?dev mean to beat}
test_to_beat=${5:?INTER test F1 to beat}
BUNDLE=${BUNDLE:-.carry}
# shellcheck source=eval/device_env.sh
. "$(dirname "$0")/device_env.sh"
device_env "$BUNDLE" || exit 3  # the wheels device_general.sh installed are kept
export ZEROSHOT_FEWNERD_DIR=${ZEROSHOT_FEWNERD_DIR:-$BUNDLE/fewnerd}
# "$1 beats $2": a strictly higher score
beats() { python3 -c "import sys; sys.exit(float(sys.argv[1]) <= float(sys.argv[2]))" "$1" "$2"; }
mkdir -p "$out"
python3 eval/score_devsets.py --model "$model" --devsets "$BUNDLE/devsets" --device cuda \
  --batch-size 512 --out "$out/dev_$name.json" --not-zero-shot fewnerd_dev_trained_types \
  --thresholds 0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6 || exit 5
read -r thr dev_mean < <(python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scores']; \
print(s['best_threshold'], s['best_mean_f1'])" "$out/dev_$name.json")
echo "dev: mean $dev_mean at $thr (to beat: $dev_to_beat)"
if ! beats "$dev_mean" "$dev_to_beat"; then
  echo "does not beat the committed model on dev: INTER test not scored, no parts"
  exit 0
fi
python3 eval/score_inter_test.py --model "$model" --device cuda --thresholds "$thr" \
  --out "$out" --name "test_$name" || exit 6
test_f1=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); \
print(next(iter(r['scores'].values()))['strict']['f1'])" "$out/test_$name.json")
echo "INTER test: $test_f1 at $thr (to beat: $test_to_beat)"
if beats "$test_f1" "$test_to_beat"; then
  if [ "${FETCH:-1}" = 1 ]; then
    bash eval/device_general.sh fetch "$out"
  else  # FETCH=0: the same call already returns device_general.sh's first parts
    echo "beats the committed model: fetch the remaining parts"
  fi
else
  echo "does not beat the committed model on INTER test: no parts"
fi
