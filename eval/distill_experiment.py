"""Run the distillation experiment's students and score them once on Few-NERD INTER test.

    # each student: one `zeroshot distill --stages filter,student` command (printed by
    # `commands`); `run` executes them, one after another or --parallel
    python eval/distill_experiment.py commands --runs /tmp/distill --device cuda
    python eval/distill_experiment.py run n900 --runs /work/runs/distill/students --device cpu
    # score base + students (GPU: all of INTER test, and the teacher's seeded 500)
    python eval/distill_experiment.py score --runs RUNS --out OUT --device cuda [--limit 500]
    # CPU, this machine: teachers + base + a student on the teacher's 500, for speed
    python eval/distill_experiment.py score --runs RUNS --out OUT --teachers t05,t15 \
        --limit 500 --students n900
    # the results table (eval/results/distill/README.md)
    python eval/distill_experiment.py table --full OUT_GPU --subset OUT_GPU_500 \
        --cpu OUT_CPU --runs RUNS --out eval/results/distill/README.md

Variants and teachers: ``eval/configs/distill_fewnerd.json``. A teacher folder is
rebuilt from the committed labels (``eval/distill_fewnerd.py join``) when it is not
there. INTER test is read by the head-to-head benchmark with its seed (13), so the
500 sentences are those of the benchmark's LLM rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill_fewnerd

from zeroshot.benchmark import run_benchmark
from zeroshot.core.loaders import find_fewnerd
from zeroshot.core.schema import Schema
from zeroshot.distill.report import SEED, engine_specs
from zeroshot.distill.teacher import LABELS, TeacherConfig
from zeroshot.report import write_report

logger = logging.getLogger("distill_experiment")
CONFIG = Path(__file__).resolve().parent / "configs" / "distill_fewnerd.json"


def load_config(path: Path = CONFIG) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def teacher_folder(cfg: dict, name: str, runs: Path) -> Path:
    """The teacher's folder under ``runs/teachers``, rebuilt from its exported labels
    (and cut to the first N sampled sentences) when missing."""
    t = cfg["teachers"][name]
    folder = runs / "teachers" / name
    if not (folder / LABELS).exists():
        distill_fewnerd.join(Path(t["exported"]), folder)
        if t.get("first"):
            _keep_first(folder / LABELS, t["first"])
    return folder


def _keep_first(labels: Path, n: int) -> None:
    """Keep the records of the first ``n`` sentences of the sample (the sample's order:
    the teacher wrote them in input order)."""
    rows = labels.read_text(encoding="utf-8").splitlines()
    labels.write_text("".join(r + "\n" for r in rows[:n]), encoding="utf-8")


def variant_command(cfg: dict, name: str, runs: Path, device: str,
                    budget: float | None) -> list[str]:
    v = cfg["variants"][name]
    labels = runs / "teachers" / v["teacher"] / LABELS
    cmd = [sys.executable, "-m", "zeroshot", "distill", "--teacher-labels", str(labels),
           "--stages", "filter,student", "--out", str(runs / name), "--device", device, "-q",
           *cfg["common"], *v["args"]]
    if budget:
        cmd += ["--train-option", f"time_budget_s={budget:g}"]
    return cmd


def cmd_commands(args: argparse.Namespace) -> int:
    cfg = load_config()
    for name in args.variants or cfg["variants"]:
        print(shlex.join(variant_command(cfg, name, Path(args.runs), args.device, args.budget)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config()
    runs = Path(args.runs)
    names = args.variants or list(cfg["variants"])
    for name in names:
        teacher_folder(cfg, cfg["variants"][name]["teacher"], runs)
    procs = []
    for i, name in enumerate(names):
        cmd = variant_command(cfg, name, runs, args.device, args.budget)
        (runs / name).mkdir(parents=True, exist_ok=True)
        log = (runs / name / "distill.log").open("w")
        env = dict(os.environ)
        if args.gpus:  # spread parallel runs over the GPUs, one GPU each
            env["CUDA_VISIBLE_DEVICES"] = str(i % args.gpus)
        logger.info("%s: %s", name, shlex.join(cmd))
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append((name, p))
        if not args.parallel:
            p.wait()
    failed = [name for name, p in procs if p.wait() != 0]
    if failed:
        logger.error("failed: %s (see RUNS/<name>/distill.log)", ", ".join(failed))
    return 1 if failed else 0


def student_models(runs: Path, names: list[str] | None) -> dict[str, str]:
    found = {}
    for d in sorted(runs.iterdir()) if runs.is_dir() else []:
        model = d / "student" / "model"
        if (model / "zeroshot_model.json").exists() and (names is None or d.name in names):
            found[d.name] = str(model)
    return found


def cmd_score(args: argparse.Namespace) -> int:
    cfg = load_config()
    runs = Path(args.runs)
    students = student_models(runs, args.students.split(",") if args.students else None)
    specs = []
    for name in (args.teachers.split(",") if args.teachers else []):
        t = json.loads((teacher_folder(cfg, name, runs) / "config.json").read_text())
        teacher = TeacherConfig(**{k: v for k, v in t["teacher"].items()},
                                all_cores=args.all_cores)
        spec = engine_specs(teacher, None, {}, None)[0]
        specs.append(type(spec)(name, spec.engine, spec.options, batch_size=spec.batch_size,
                                latency_samples=0))
    gliner_opts = {"device": args.device, "batch_size": 128 if args.device == "cuda" else 16}
    for spec in engine_specs(None, None, students, None):
        specs.append(type(spec)(spec.name, spec.engine, {**spec.options, **gliner_opts}))
    out = Path(args.out)
    result, cards = run_benchmark(find_fewnerd("inter/test"), Schema.load(cfg["schema"]), specs,
                                  out, limit=args.limit, seed=SEED, progress=not args.quiet,
                                  latency_samples=args.latency_samples,
                                  command=shlex.join(sys.argv))
    write_report(result, out, cards)
    print(out / "report.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, func, help_ in (("commands", cmd_commands, "print each student's command"),
                              ("run", cmd_run, "train students (filter + student stages)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("variants", nargs="*", help="variant names (default: all)")
        p.add_argument("--runs", required=True, help="folder of teacher folders and students")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
        p.add_argument("--budget", type=float, help="wall-clock seconds per student")
        p.add_argument("--parallel", action="store_true", help="run: all at once")
        p.add_argument("--gpus", type=int, default=0,
                       help="run --parallel: spread the runs over this many GPUs")
        p.set_defaults(func=func)
    p = sub.add_parser("score", help="score base + students (+ teachers) on INTER test")
    p.add_argument("--runs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--students", help="comma-separated variant names (default: all trained)")
    p.add_argument("--teachers", help="comma-separated teacher names (LLM; CPU, slow)")
    p.add_argument("--all-cores", action="store_true", help="vLLM CPU: every core")
    p.add_argument("--limit", type=int, help="seeded sample size (default: all 14,006)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--latency-samples", type=int, default=20)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_score)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
