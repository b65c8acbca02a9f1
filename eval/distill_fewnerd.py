"""The distillation experiment on Few-NERD (issue #18): unlabeled text of a new schema.

Few-NERD INTER-train sentences mention the 17 INTER-test types but label them O, so
they are unlabeled text for ``schemas/fewnerd_inter_test.json``. Steps, each one command:

    # 1. a seeded sample of INTER-train sentences (outside the repo: it is Few-NERD text)
    python eval/distill_fewnerd.py sample --n 4000 --out /work/runs/distill/sample.jsonl
    # 2. the teacher labels them (resumable; `zeroshot distill --stages teacher`)
    flock /work/notes/cpu.lock zeroshot distill /work/runs/distill/sample.jsonl \
        --schema fewnerd_inter_test --out /work/runs/distill/t05 --stages teacher --all-cores
    # 3. commit the labels without the text; read them back joined to ../shared
    python eval/distill_fewnerd.py export /work/runs/distill/t05/teacher/labels.jsonl \
        --out eval/results/distill/teacher_qwen05b_grounded3.jsonl.gz
    python eval/distill_fewnerd.py join eval/results/distill/teacher_qwen05b_grounded3.jsonl.gz \
        --out /work/runs/distill/t05_joined/labels.jsonl

Ids are ``<file stem>:<0-based sentence index>`` (``train_part_a:123``), the scheme of
``zeroshot.training.splits``. The sample leaves out the INTER-train dev sentences of the
general model's split (``--split``) and every sentence whose normalised text equals an
INTER-test sentence.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from zeroshot.batch import read_results
from zeroshot.core.loaders import Example, find_fewnerd, read_fewnerd
from zeroshot.core.spans import DocumentResult
from zeroshot.training.splits import read_fewnerd_file

logger = logging.getLogger("distill_fewnerd")

TRAIN_FILES = ("inter/train_part_a", "inter/train_part_b")
FORMAT = "zeroshot-teacher-labels/1"
_NON_WORD = re.compile(r"\W+")


def normalised(tokens: list[str]) -> str:
    """As zeroshot.training.splits.normalise_text: lower case, no non-word characters."""
    return _NON_WORD.sub("", "".join(tokens).lower())


def fewnerd_sentences(files=TRAIN_FILES, root: str | None = None) -> Iterator[Example]:
    """INTER-train sentences with ids ``<stem>:<index>`` (the training split's ids)."""
    for name in files:
        yield from read_fewnerd_file(name, root)


def dev_ids(split: Path) -> set[str]:
    raw = json.loads(split.read_text(encoding="utf-8"))
    return set(raw["fewnerd"]["dev_sentences"]["ids"])


def cmd_sample(args: argparse.Namespace) -> int:
    held = dev_ids(Path(args.split))
    test = {normalised(ex.tokens.tokens) for ex in read_fewnerd(find_fewnerd("inter/test"))}
    pool, dropped = [], {"split dev sentence": 0, "equals an INTER-test sentence": 0}
    for ex in fewnerd_sentences():
        if ex.id in held:
            dropped["split dev sentence"] += 1
        elif normalised(ex.tokens.tokens) in test:
            dropped["equals an INTER-test sentence"] += 1
        else:
            pool.append(ex)
    rng = random.Random(args.seed)
    chosen = rng.sample(pool, args.n)  # random order: any prefix is a random sample too
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for ex in chosen:
            fh.write(json.dumps({"id": ex.id, "tokens": ex.tokens.tokens},
                                ensure_ascii=False) + "\n")
    info = {"n": args.n, "seed": args.seed, "pool": len(pool), "dropped": dropped,
            "split": args.split, "files": list(TRAIN_FILES)}
    Path(str(out) + ".info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return 0


def export_row(doc: DocumentResult, error: str | None) -> dict:
    """A teacher record without the sentence's text: token offsets, labels, statuses,
    scores; issue kinds (their messages quote the text) and unaligned strings (the
    model's words, which occur nowhere in the sentence)."""
    return {"id": doc.id, "error": error is not None,
            "spans": [[s.token_start, s.token_end, s.label, s.alignment.value,
                       None if s.score is None else round(s.score, 5)] for s in doc.spans],
            "unaligned": [[m.generated, m.label] for m in doc.unaligned],
            "issues": [i.kind for i in doc.issues], "usage": dict(doc.usage or {})}


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as fh:
        header = {"format": FORMAT, "source": "Few-NERD INTER train (CC BY-SA 4.0), text "
                  "not included: join with eval/distill_fewnerd.py join",
                  "files": list(TRAIN_FILES), **_teacher_run(Path(args.labels).parent)}
        fh.write(json.dumps(header) + "\n")
        for doc, error in read_results(args.labels):
            fh.write(json.dumps(export_row(doc, error), ensure_ascii=False) + "\n")
            n += 1
    print(f"{out}: {n} records")
    return 0


def _teacher_run(folder: Path) -> dict:
    """The teacher's configuration record and its timed sessions (kept with the labels)."""
    from zeroshot.distill.teacher import CONFIG, SESSIONS

    out: dict = {"config": None, "sessions": []}
    if (folder / CONFIG).exists():
        out["config"] = json.loads((folder / CONFIG).read_text())
    if (folder / SESSIONS).exists():
        out["sessions"] = [json.loads(x) for x in (folder / SESSIONS).read_text().splitlines()]
    return out


def read_header(path: str | Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    return header


def exported_rows(path: str | Path) -> list[dict]:
    """The records of an exported file (no text), after its header."""
    read_header(path)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        fh.readline()
        return [json.loads(line) for line in fh]


def read_exported(path: str | Path, root: str | None = None) -> Iterator[tuple[DocumentResult,
                                                                              str | None]]:
    """Exported teacher records joined back to their Few-NERD sentences (``root``: the
    Few-NERD folder, default ``$ZEROSHOT_FEWNERD_DIR`` or ``../shared/data/fewnerd``)."""
    from zeroshot.core.issues import ISSUE_KINDS
    from zeroshot.core.spans import AlignmentStatus, Issue, Mention, Span

    header = read_header(path)
    rows = exported_rows(path)
    sentences = {ex.id: ex for ex in fewnerd_sentences(header["files"], root)}
    for n, row in enumerate(rows, 2):
        ex = sentences.get(row["id"])
        if ex is None:
            raise ValueError(f"{path}:{n}: no Few-NERD sentence {row['id']!r}")
        tok = ex.tokens
        spans = []
        for ts, te, label, status, score in row["spans"]:
            cs, ce = tok.token_span_to_char(ts, te)
            spans.append(Span(cs, ce, label, tok.text[cs:ce], score=score, token_start=ts,
                              token_end=te, engine="teacher", alignment=AlignmentStatus(status)))
        unknown = set(row["issues"]) - set(ISSUE_KINDS)
        if unknown:
            raise ValueError(f"{path}:{n}: unknown issue kinds {sorted(unknown)}")
        doc = DocumentResult.from_tokenized(
            tok, spans=tuple(spans), id=row["id"], engine="teacher",
            unaligned=tuple(Mention(g, lab, AlignmentStatus.UNALIGNED)
                            for g, lab in row["unaligned"]),
            issues=tuple(Issue(k, "(exported: kind only)") for k in row["issues"]),
            usage=row.get("usage") or None)
        yield doc, ("error (exported: kind only)" if row["error"] else None)


def join(exported: str | Path, folder: str | Path, root: str | None = None) -> Path:
    """A teacher folder (labels.jsonl, config.json, sessions.jsonl) rebuilt from an
    exported file and the Few-NERD sentences, for ``zeroshot distill --teacher-labels``."""
    from zeroshot.distill.teacher import CONFIG, LABELS, SESSIONS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = read_header(exported)
    with (folder / LABELS).open("w", encoding="utf-8") as fh:
        for doc, error in read_exported(exported, root):
            fh.write(json.dumps({**doc.to_dict(), "error": error}, ensure_ascii=False) + "\n")
    if header.get("config"):
        (folder / CONFIG).write_text(json.dumps(header["config"], indent=2, sort_keys=True)
                                     + "\n")
    (folder / SESSIONS).write_text("".join(json.dumps(s) + "\n"
                                           for s in header.get("sessions", [])))
    return folder / LABELS


def cmd_join(args: argparse.Namespace) -> int:
    print(join(args.labels, args.out, args.data_dir))
    return 0


# the GPU image lacks these: the pins of eval/build_general_bundle.py (issue #16), and
# psutil for the benchmark's memory sampling
WHEELS = ["gliner==0.2.29", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1",
          "referencing==0.37.0", "rpds-py==2026.9.1", "rapidfuzz==3.14.6", "psutil==7.2.2"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def cmd_bundle(args: argparse.Namespace) -> int:
    """What eval/device_distill.sh needs on the GPU machine: whl/ and the Few-NERD files."""
    import shutil
    import subprocess

    out = Path(args.out)
    for name in (*TRAIN_FILES, "inter/test"):
        dest = out / "fewnerd" / f"{name}.txt.gz"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(find_fewnerd(name), dest)
    have = {p.name.split("-")[0].lower().replace("_", "-") for p in (out / "whl").glob("*.whl")}
    missing = [w for w in WHEELS if w.split("==")[0] not in have]
    if missing:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "-d", str(out / "whl")]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run(cmd + missing, check=True)
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sample", help="a seeded sample of INTER-train sentences as JSONL")
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--split", default="eval/splits/general_v1.json",
                   help="split definition whose Few-NERD dev sentences are left out")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("export", help="teacher labels without the text, gzip JSONL")
    p.add_argument("labels")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("join", help="exported labels joined back to the sentences")
    p.add_argument("labels")
    p.add_argument("--out", required=True, help="teacher folder to write")
    p.add_argument("--data-dir", help="Few-NERD folder (default ../shared/data/fewnerd)")
    p.set_defaults(func=cmd_join)
    p = sub.add_parser("bundle", help="the GPU carry folder: whl/ and fewnerd/")
    p.add_argument("--out", default=".carry")
    p.set_defaults(func=cmd_bundle)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
