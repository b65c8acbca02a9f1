# Sourced by the eval/device_*.sh scripts: the Python environment of a call on the lent GPU
# machine (no network). `device_env BUNDLE`:
# - installs the wheels carried in BUNDLE/whl into /tmp/site, once per warm machine (a stamp
#   lists what was installed; SKIP_INSTALL=1 skips it), and puts /tmp/site and the checkout on
#   PYTHONPATH (without BUNDLE/whl: the checkout only, after what PYTHONPATH holds);
# - sets the offline variables, and ZEROSHOT_COMMIT from BUNDLE/bundle.json (the commit the
#   bundle was built at: the device's copy of .git can lag the tree it got);
# - links schemas/ and prompts/ where the installed package has them (zeroshot.schemas).
device_env() {
  local bundle=$1 site=/tmp/site
  if [ -d "$bundle/whl" ] && [ -z "${SKIP_INSTALL:-}" ]; then
    local want
    want=$(cd "$bundle/whl" && ls ./*.whl)
    if [ "$(cat "$site/.zeroshot-wheels" 2>/dev/null)" != "$want" ]; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$bundle"/whl/*.whl >/dev/null || return 3
      echo "$want" > "$site/.zeroshot-wheels"
    fi
    export PYTHONPATH=$site:$PWD
  else
    export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
  fi
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
  export ZEROSHOT_COMMIT=${ZEROSHOT_COMMIT:-$(python3 -c "import json, sys; \
print(json.load(open(sys.argv[1]))['commit'])" "$bundle/bundle.json" 2>/dev/null || echo unknown)}
  [ -e zeroshot/schemas ] || ln -sfn ../schemas zeroshot/schemas
  [ -e zeroshot/prompts ] || ln -sfn ../prompts zeroshot/prompts
}
