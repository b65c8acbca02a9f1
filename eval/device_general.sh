#!/usr/bin/env bash
# Train general GLiNER models on a lent GPU machine (no network), several configs at once.
#
#   bash eval/device_general.sh BUDGET_S OUT CONFIG...
#
# Needs the carry folder $BUNDLE (default .carry/) written by eval/build_general_bundle.py (whl/, mixture,
# devsets/, fewnerd/, backbone/ or base_model/ or mpnet/). Installs the carried wheels,
# starts one eval/train_general.py process per CONFIG on the one GPU, in parallel, each
# with a wall-clock budget of BUDGET_S seconds for training + final dev evaluation + INTER
# test at the dev-chosen threshold + export, then writes to OUT (at most 8 files):
#   runs.json   every run's summary (dev scores per threshold, test at the dev threshold)
#   runs.md     one line per run
#   logs.txt    the tail of every run's log
#   reference.json  with REFERENCE=DIR: that model's dev scores (the "before" column)
#   model.tar.part-*  the dev-best run's model folder, tar split into 15 MiB parts
#                     (join: cat model.tar.part-* | tar -xf -); at most 4 parts a call:
#                     a bigger model (mpnet) comes back over `fetch` calls:
#   bash eval/device_general.sh fetch OUT   # the next 4 parts, while the machine is warm
# The device tool carries the working tree, at most 64 MiB a call: the tracked models (~230 MiB)
# must stay behind. Call from a tree without them, and restore it after (measured 2026-12-04):
#   git sparse-checkout set --no-cone '/*' '!/models/*/'   ...   git sparse-checkout disable
# A base model (a config's base_model, e.g. /tmp/models/gliner-mpnet-general) travels in chunks
# of ~43 MiB, one call each while the machine is warm (split -n 3; cat them there; check SHA-256):
# eval/results/general_model/runs_mpnet_g_device.md.
# Environment: SMOKE=1 adds small limits and 4 steps (CPU test of this script), SMOKE=time
# the same limits but no step limit (the budget stops training); EXTRA passes more
# arguments to every run; DEVICE overrides the device (default: cuda when present).
set -uo pipefail
BUNDLE=${BUNDLE:-.carry}
runs=${RUNS:-/tmp/runs}
# Return up to 4 more model parts (at most 60 MiB a call); `fetch OUT` in a later call
# while the machine is warm returns the rest of a model too big for one call (mpnet).
return_parts() {
  local n=0
  mkdir -p "$1"
  for part in "$runs"/parts/model.tar.part-*; do
    [ -e "$part" ] || continue
    grep -qxF "$(basename "$part")" "$runs/parts/returned" 2>/dev/null && continue
    [ $n -ge 4 ] && break
    cp "$part" "$1/" && basename "$part" >> "$runs/parts/returned"
    n=$((n + 1))
  done
  local left
  left=$(comm -23 <(ls "$runs"/parts | grep '^model.tar.part-' | sort) \
                  <(sort "$runs/parts/returned" 2>/dev/null))
  if [ -n "$left" ]; then
    echo "parts not yet returned (run 'bash eval/device_general.sh fetch OUT' next):" $left
  else
    echo "all model parts returned"
  fi
}
if [ "${1:-}" = fetch ]; then
  return_parts "${2:?output folder}"
  exit 0
fi
budget=${1:?budget seconds}
out=${2:?output folder}
shift 2
[ $# -ge 1 ] || { echo "need at least one config" >&2; exit 2; }
mkdir -p "$out"
# shellcheck source=eval/device_env.sh
. "$(dirname "$0")/device_env.sh"
device_env "$BUNDLE" || exit 3
mkdir -p "$runs"
# all-mpnet-base-v2 staged in earlier calls (eval/stage_mpnet.py keep): join + dequantise
stage=${MPNET_STAGE:-/tmp/mpnet_stage}
if ls "$stage"/manifest-*.json >/dev/null 2>&1 && [ ! -f "$BUNDLE/mpnet/model.safetensors" ]; then
  python3 eval/stage_mpnet.py assemble --stage "$stage" --out "$BUNDLE/mpnet" || exit 4
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, gliner; print('torch', torch.__version__, 'transformers', transformers.__version__, 'gliner', gliner.__version__, 'cuda', torch.cuda.is_available())"
smoke=()
case "${SMOKE:-}" in
  "") ;;
  time) smoke=(--eval-every 2 --mixture-limit 400 --dev-limit 4 --test-limit 10) ;;  # the budget stops it
  *) smoke=(--max-steps 4 --eval-every 2 --mixture-limit 200 --dev-limit 4 --test-limit 10) ;;
esac
device=()
[ -n "${DEVICE:-}" ] && device=(--device "$DEVICE")
pids=()
names=()
for cfg in "$@"; do
  name=$(basename "$cfg" .json)
  names+=("$name")
  rm -rf "${runs:?}/$name"
  python3 eval/train_general.py --bundle "$BUNDLE" --config "$cfg" --out "$runs/$name" \
    --time-budget "$budget" --test "${smoke[@]}" "${device[@]}" ${EXTRA:-} \
    > "$runs/$name.log" 2>&1 < /dev/null &
  pids+=($!)
  echo "started $name (pid $!)"
done
# REFERENCE=DIR: also score that model (e.g. $BUNDLE/base_model, the committed Few-NERD model
# in int8) on the dev sets: the "before" column, in OUT/reference.json
if [ -n "${REFERENCE:-}" ]; then
  python3 eval/score_devsets.py --model "$REFERENCE" --devsets "$BUNDLE/devsets" \
    --device "${DEVICE:-cuda}" --batch-size 128 --not-zero-shot fewnerd_dev_heldout_types \
    --out "$out/reference.json" > "$runs/reference.log" 2>&1 < /dev/null &
  pids+=($!)
fi
# each run stops itself inside its budget; this is the backstop
deadline=$(( $(date +%s) + budget + 90 ))
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
  kill "$pid" 2>/dev/null && echo "killed $pid at the backstop"
done
wait
python3 - "$runs" "$out" "${names[@]}" <<'PY'
import json, sys, tarfile
from pathlib import Path
runs, out, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
summaries, lines, logs = {}, [], []
for n in names:
    log = runs / f"{n}.log"
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    logs.append(f"===== {n}\n" + "\n".join(text.replace("\r", "\n").splitlines()[-40:]))
    p = runs / n / "summary.json"
    meta_path = runs / n / "model" / "zeroshot_model.json"
    if p.exists():
        s = json.loads(p.read_text())
    elif meta_path.exists():  # stopped after the export (e.g. during the test): dev scores kept
        m = json.loads(meta_path.read_text())
        thr = m["threshold"]
        s = {"name": m["name"], "steps": m["steps"], "threshold": thr,
             "dev_mean_f1": m["dev_scores"]["best_mean_f1"],
             "dev_f1": {k: v["by_threshold"][f"{thr:.2f}"]["f1"]
                        for k, v in m["dev_scores"]["sets"].items()},
             "dev_zero_shot_sets": m["dev_scores"]["zero_shot_sets"],
             "test_strict_f1": None, "run_seconds": m["run_seconds"],
             "stop_reason": m["stop_reason"] + "; no summary (stopped before the end)"}
    else:
        lines.append(f"| {n} | FAILED (no model) | | | | |")
        continue
    summaries[n] = s
    test = s.get("test_strict_f1")
    lines.append(f"| {n} | {s['steps']} | {s['threshold']} | {100 * s['dev_mean_f1']:.1f} | "
                 + ("-" if test is None else f"{100 * test:.1f}") + f" | {s['run_seconds']} |")
(out / "logs.txt").write_text("\n\n".join(logs) + "\n")
head = ("| run | steps | dev threshold | dev mean zero-shot strict F1 | INTER test strict F1 "
        "(at dev threshold) | seconds |\n|---|---|---|---|---|---|\n")
# compare runs on the dev sets that count (zero-shot) for every run, each at its own threshold
common = None
for s in summaries.values():
    sets = set(s.get("dev_zero_shot_sets") or s["dev_f1"])
    common = sets if common is None else common & sets
for s in summaries.values():
    s["dev_mean_f1_common"] = (sum(s["dev_f1"][k] for k in common) / len(common)
                               if common else s["dev_mean_f1"])
lines = [ln + f" {100 * summaries[n]['dev_mean_f1_common']:.1f} |" if n in summaries else ln
         for n, ln in zip(names, lines)]
head = head.replace("| seconds |\n|---|---|---|---|---|---|\n",
                    "| seconds | dev mean over common sets |\n|---|---|---|---|---|---|---|\n")
best = max(summaries, key=lambda n: summaries[n]["dev_mean_f1_common"]) if summaries else None
(out / "runs.json").write_text(json.dumps(summaries, indent=1) + "\n")
(out / "runs.md").write_text(head + "\n".join(lines) + f"\n\ndev-best: {best}\n")
print(head + "\n".join(lines) + f"\n\ndev-best: {best}")
if best:
    with tarfile.open(runs / "best_model.tar", "w", dereference=True) as tar:
        tar.add(runs / best / "model", arcname=f"{best}")
    (runs / "best_name").write_text(best)
PY
if [ -f "$runs/best_model.tar" ]; then
  rm -rf "$runs/parts" && mkdir -p "$runs/parts"
  split -b 15m "$runs/best_model.tar" "$runs/parts/model.tar.part-"
  return_parts "$out"
  ls -la "$out"
fi
