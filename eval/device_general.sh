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
#   model.tar.part-*  the dev-best run's model folder, tar split into 15 MiB parts
#                     (join: cat model.tar.part-* | tar -xf -)
# Environment: SMOKE=1 adds small limits and 4 steps (CPU test of this script), SMOKE=time
# the same limits but no step limit (the budget stops training); EXTRA passes more
# arguments to every run; DEVICE overrides the device (default: cuda when present).
set -uo pipefail
BUNDLE=${BUNDLE:-.carry}
budget=${1:?budget seconds}
out=${2:?output folder}
shift 2
[ $# -ge 1 ] || { echo "need at least one config" >&2; exit 2; }
mkdir -p "$out"
if [ -d "$BUNDLE/whl" ] && [ -z "${SKIP_INSTALL:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$BUNDLE"/whl/*.whl >/dev/null || exit 3
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export ZEROSHOT_COMMIT=$(python3 -c "import json;print(json.load(open('${BUNDLE}/bundle.json'))['commit'])" 2>/dev/null || echo unknown)
# the repo layout installs schemas/ as zeroshot.schemas
[ -e zeroshot/schemas ] || ln -sfn ../schemas zeroshot/schemas
[ -e zeroshot/prompts ] || ln -sfn ../prompts zeroshot/prompts
runs=${RUNS:-/tmp/runs}
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
    if not p.exists():
        lines.append(f"| {n} | FAILED (no summary) | | | | |")
        continue
    s = json.loads(p.read_text())
    summaries[n] = s
    test = s.get("test_strict_f1")
    lines.append(f"| {n} | {s['steps']} | {s['threshold']} | {100 * s['dev_mean_f1']:.1f} | "
                 + ("-" if test is None else f"{100 * test:.1f}") + f" | {s['run_seconds']} |")
(out / "runs.json").write_text(json.dumps(summaries, indent=1) + "\n")
(out / "logs.txt").write_text("\n\n".join(logs) + "\n")
head = ("| run | steps | dev threshold | dev mean zero-shot strict F1 | INTER test strict F1 "
        "(at dev threshold) | seconds |\n|---|---|---|---|---|---|\n")
best = max(summaries, key=lambda n: summaries[n]["dev_mean_f1"]) if summaries else None
(out / "runs.md").write_text(head + "\n".join(lines) + f"\n\ndev-best: {best}\n")
print(head + "\n".join(lines) + f"\n\ndev-best: {best}")
if best:
    with tarfile.open(runs / "best_model.tar", "w") as tar:
        tar.add(runs / best / "model", arcname=f"{best}")
    (runs / "best_name").write_text(best)
PY
if [ -f "$runs/best_model.tar" ]; then
  split -b 15m "$runs/best_model.tar" "$out/model.tar.part-"
  ls -la "$out"
fi
