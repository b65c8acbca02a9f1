#!/usr/bin/env bash
# The LLM labeller of eval/propose_type_names.py on a lent GPU machine, which has torch,
# transformers and accelerate but no vLLM and no network: the model's GGUF file travels in
# chunks, is prepared there (zeroshot prepare-model --gguf) and read by the outlines backend
# on CUDA, requests of one JSON Schema in batches (issue #16, What to build #2 at scale).
#
# Here, once (writes .carry-g00/, .carry-g01/, ...: one chunk each, under the 64 MiB a call
# carries with the working tree; the last one also holds the SHA-256 file):
#   bash eval/device_label_names.sh split qwen2.5-coder-1.5b-instruct
# On the device, back to back while the machine stays warm (30 s), one call per chunk, each
# carrying only its .carry-gNN folder (and a tree without the tracked models, see
# eval/device_general.sh):
#   bash eval/device_label_names.sh stage NN
# Then one call that carries .carry (eval/build_general_bundle.py --llm: the mixture and the
# outlines wheels) and labels for at most SECONDS (resumable: a later call continues):
#   bash eval/device_label_names.sh label OUT SECONDS [more propose_type_names label options]
# OUT gets labels.jsonl.gz (record indices, spans, answers; no text) and label.log.
# Environment: MODEL (default qwen2.5-coder-1.5b-instruct), DEVICE (default cuda), BATCH
# (default 64), DTYPE (default bfloat16), LIMIT (sentences to sample, default 30000),
# BUNDLE (default .carry).
set -uo pipefail
MODEL=${MODEL:-qwen2.5-coder-1.5b-instruct}
BUNDLE=${BUNDLE:-.carry}
stage=${GGUF_STAGE:-/tmp/gguf}
chunk_bytes=${CHUNK_BYTES:-50000000}
case "${1:-}" in
  split)
    name=${2:-$MODEL}
    rm -rf .carry-g[0-9]*
    tmp=$(mktemp -d)
    python3 -c "
import sys
from pathlib import Path
from zeroshot.engines.llm.model_prep import RECIPES, join_parts
join_parts(RECIPES[sys.argv[1]], Path(sys.argv[2]) / 'model.gguf')" "$name" "$tmp" || exit 2
    (cd "$tmp" && sha256sum model.gguf > model.gguf.sha256 \
      && split -b "$chunk_bytes" -d -a 2 model.gguf model.gguf.part-) || exit 2
    last=""
    for part in "$tmp"/model.gguf.part-*; do
      n=${part##*-}
      mkdir -p ".carry-g$n" && mv "$part" ".carry-g$n/" && last=$n
    done
    mv "$tmp/model.gguf.sha256" ".carry-g$last/" && rm -rf "$tmp"
    ls -d .carry-g* | tr '\n' ' '; echo "(stage each with: bash eval/device_label_names.sh stage NN)"
    ;;
  stage)
    n=${2:?chunk number}
    mkdir -p "$stage" && cp ".carry-g$n"/* "$stage"/ && ls "$stage" | wc -l
    ;;
  label)
    out=${2:?output folder}
    seconds=${3:?seconds}
    shift 3
    mkdir -p "$out" /tmp/labels
    # shellcheck source=eval/device_env.sh
    . "$(dirname "$0")/device_env.sh"
    device_env "$BUNDLE" || exit 3
    export ZEROSHOT_CACHE=${ZEROSHOT_CACHE:-/tmp/zcache}
    model_dir=$ZEROSHOT_CACHE/models/$MODEL
    if [ ! -d "$model_dir" ]; then
      (cd "$stage" && cat model.gguf.part-* > model.gguf && sha256sum -c model.gguf.sha256) \
        || exit 4
      python3 -c "
import logging, sys
from pathlib import Path
from zeroshot.engines.llm.model_prep import prepare_model
logging.basicConfig(level=logging.INFO)
print(prepare_model(sys.argv[1], gguf=Path(sys.argv[2])))" "$MODEL" "$stage/model.gguf" || exit 5
      rm -f "$stage"/model.gguf
    fi
    timeout "$seconds" python3 eval/propose_type_names.py label \
      --mixture "$BUNDLE/mixture.jsonl.gz" --out /tmp/labels/labels.jsonl \
      --limit "${LIMIT:-30000}" --chunk 512 --model "$model_dir" --backend outlines \
      --device "${DEVICE:-cuda}" --batch "${BATCH:-64}" --dtype "${DTYPE:-bfloat16}" "$@" \
      > /tmp/labels/label.log 2>&1
    echo "labeller exit $? (124: stopped at its time limit; rerun to continue)"
    tail -5 /tmp/labels/label.log
    gzip -c /tmp/labels/labels.jsonl > "$out/labels.jsonl.gz" && cp /tmp/labels/label.log "$out/"
    echo "$(wc -l < /tmp/labels/labels.jsonl) sentences labelled"
    ;;
  *)
    echo "usage: $0 split [MODEL] | stage NN | label OUT SECONDS [ARGS]" >&2
    exit 2
    ;;
esac
