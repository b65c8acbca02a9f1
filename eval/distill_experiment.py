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
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import distill_fewnerd

from zeroshot.benchmark import run_benchmark
from zeroshot.core.loaders import find_fewnerd
from zeroshot.core.schema import Schema
from zeroshot.distill.report import SEED, engine_specs, write_bench_report
from zeroshot.distill.teacher import LABELS, TeacherConfig

logger = logging.getLogger("distill_experiment")
CONFIG = Path(__file__).resolve().parent / "configs" / "distill_fewnerd.json"


def load_config(path: str | Path | None = None) -> dict:
    """The experiment's variants (``$DISTILL_CONFIG`` or eval/configs/distill_fewnerd.json)."""
    return json.loads(Path(path or os.environ.get("DISTILL_CONFIG") or CONFIG).read_text(
        encoding="utf-8"))


def teacher_folder(cfg: dict, name: str, runs: Path) -> Path:
    """The teacher's folder under ``runs/teachers``, rebuilt from its exported labels when
    missing; ``same_ids_as``: only the texts another teacher labelled (to compare two
    teachers on the same sentences)."""
    t = cfg["teachers"][name]
    folder = runs / "teachers" / name
    if not (folder / LABELS).exists():
        distill_fewnerd.join(Path(t["exported"]), folder)
        if t.get("same_ids_as"):
            other = cfg["teachers"][t["same_ids_as"]]["exported"]
            _keep_ids(folder / LABELS, {row["id"] for row in distill_fewnerd.exported_rows(
                other)})
    return folder


def _keep_ids(labels: Path, ids: set[str]) -> None:
    rows = labels.read_text(encoding="utf-8").splitlines()
    labels.write_text("".join(r + "\n" for r in rows if json.loads(r)["id"] in ids),
                      encoding="utf-8")


def variant_command(cfg: dict, name: str, runs: Path, device: str,
                    budget: float | None, epochs: float | None = None) -> list[str]:
    v = cfg["variants"][name]
    labels = runs / "teachers" / v["teacher"] / LABELS
    cmd = [sys.executable, "-m", "zeroshot", "distill", "--teacher-labels", str(labels),
           "--stages", "filter,student", "--out", str(runs / name), "--device", device, "-q",
           *cfg["common"], *v["args"]]
    if budget:
        cmd += ["--train-option", f"time_budget_s={budget:g}"]
    if epochs:  # a fixed number of passes: students of different N compare at equal passes
        cmd += ["--epochs", f"{epochs:g}"]
    return cmd


def cmd_commands(args: argparse.Namespace) -> int:
    cfg = load_config()
    for name in args.variants or cfg["variants"]:
        print(shlex.join(variant_command(cfg, name, Path(args.runs), args.device, args.budget,
                                         args.epochs)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_config()
    runs = Path(args.runs)
    names = []
    for name in args.variants or list(cfg["variants"]):
        teacher = cfg["variants"][name]["teacher"]
        if not (runs / "teachers" / teacher / LABELS).exists() and \
                not Path(cfg["teachers"][teacher]["exported"]).exists():
            logger.warning("%s: no labels of teacher %s yet; left out", name, teacher)
            continue
        teacher_folder(cfg, teacher, runs)
        names.append(name)
    procs: list[tuple[str, subprocess.Popen]] = []

    def stop(signum: int, _frame: object) -> None:  # `timeout` stops the runs too
        for name, p in procs:
            if p.poll() is None:
                logger.error("%s: stopped (signal %d)", name, signum)
                p.kill()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    for i, name in enumerate(names):
        cmd = variant_command(cfg, name, runs, args.device, args.budget, args.epochs)
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
    write_bench_report(result, out, cards)
    print(out / "report.md")
    return 0


def _row(r: dict) -> dict:
    s, p = r["metrics"]["strict"]["micro"], r["metrics"]["partial"]["micro"]
    return {"p": s["precision"], "r": s["recall"], "f1": s["f1"], "ci": s["ci95"]["f1"],
            "partial": p["f1"], "n": r["sentences"], "sps": r["speed"].get("sentences_per_s"),
            "per_type": r["metrics"]["strict"]["per_type"]}


def _rows(folder: Path | None) -> dict[str, dict]:
    if folder is None or not (folder / "results.json").exists():
        return {}
    return {r["engine"]: _row(r) for r in json.loads((folder / "results.json").read_text())[
        "engines"]}


def _f(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _prf(r: dict | None) -> str:
    if not r:
        return "—"
    return f"{_f(r['p'])} / {_f(r['r'])} / **{_f(r['f1'])}** ({_f(r['ci'][0])}–{_f(r['ci'][1])})"


def _card(runs: Path, name: str) -> dict:
    path = runs / name / "student" / "model" / "zeroshot_model.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _silver(meta: dict) -> str:
    v = (meta.get("distill", {}).get("dev_summary", {}).get("silver_dev") or {}).get("after")
    return _f(v["f1"]) if v else "—"


def _kept(meta: dict) -> str:
    c = meta.get("distill", {}).get("counts")
    return f"{c['distilled_sentences']} / {c['distilled_spans']}" if c else "—"


def render_table(cfg: dict, full: dict, subset: dict, cpu: dict, runs: Path) -> list[str]:
    """The results page: the issue's table, F1 against N, what each rule bought, the two
    teachers, and the teachers' precision per type."""
    main = cfg.get("main_variant", "all")
    teachers = [t for t in ("t05", "t15") if t in cpu]
    lines = ["| model | strict P / R / F1 (95% CI), INTER test | sentences | "
             "sentences/s (2 CPU cores) |", "|---|---|---|---|"]
    for t in teachers:
        lines.append(f"| teacher {t} ({cfg['teachers'][t]['what']}) | {_prf(cpu[t])} | "
                     f"{cpu[t]['n']} | {cpu[t]['sps']:.2f} |")
    base_sps = (cpu.get("base") or {}).get("sps")
    stu_sps = next((r["sps"] for k, r in cpu.items() if k not in ("base", *teachers)), None)
    lines.append(f"| base encoder, zero-shot | {_prf(full.get('base'))} | "
                 f"{(full.get('base') or {}).get('n', '—')} | "
                 f"{base_sps:.1f} |" if base_sps else "| base encoder | — | — | — |")
    lines.append(f"| distilled student ({main}) | {_prf(full.get(main))} | "
                 f"{(full.get(main) or {}).get('n', '—')} | "
                 f"{stu_sps:.1f} |" if stu_sps else f"| distilled student ({main}) | "
                 f"{_prf(full.get(main))} | — | — |")
    lines += ["", "On the 500 seeded sentences the teachers read (benchmark seed 13):", "",
              "| model | strict P / R / F1 (95% CI) | partial F1 |", "|---|---|---|"]
    for name, r in {**{t: cpu[t] for t in teachers}, **subset}.items():
        lines.append(f"| {name} | {_prf(r)} | {_f(r['partial'])} |")
    lines += ["", "Students (all of INTER test; silver dev F1: against held-out teacher "
              "labels, what the runs were chosen on):", "",
              "| student | teacher | rules changed | distilled sentences / spans kept | "
              "silver dev F1 | strict P / R / F1 (95% CI) | Δ F1 vs base | Δ F1 vs "
              f"{main} |", "|---|---|---|---|---|---|---|---|"]
    base_f1 = (full.get("base") or {}).get("f1")
    main_f1 = (full.get(main) or {}).get("f1")
    for name, v in cfg["variants"].items():
        r = full.get(name)
        meta = _card(runs, name)
        d_base = f"{100 * (r['f1'] - base_f1):+.1f}" if r and base_f1 is not None else "—"
        d_main = f"{100 * (r['f1'] - main_f1):+.1f}" if r and main_f1 is not None else "—"
        lines.append(f"| {name} | {v['teacher']} | `{' '.join(v['args']) or 'defaults'}` | "
                     f"{_kept(meta)} | {_silver(meta)} | {_prf(r)} | {d_base} | {d_main} |")
    if teachers:
        lines += ["", "Teacher precision per type (strict, on the 500; what the student "
                  "learns from):", "", "| type | " + " | ".join(
                      f"{t} P | {t} R" for t in teachers) + " | base P | base R |",
                  "|---|" + "---|---|" * (len(teachers) + 1)]
        for typ in cfg_types(cfg):
            cells = []
            for name in (*teachers, "base"):
                src = cpu.get(name, {}).get("per_type", {}).get(typ)
                cells += [_f(src["precision"]) if src else "—",
                          _f(src["recall"]) if src else "—"]
            lines.append(f"| {typ} | " + " | ".join(cells) + " |")
    return lines


def cfg_types(cfg: dict) -> list[str]:
    return list(Schema.load(cfg["schema"]).names)


def cmd_table(args: argparse.Namespace) -> int:
    cfg = load_config()
    full, subset, cpu = (_rows(Path(p)) if p else {} for p in (args.full, args.subset, args.cpu))
    lines = render_table(cfg, full, subset, cpu, Path(args.runs))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
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
        p.add_argument("--epochs", type=float, help="passes over the training data (instead "
                                                    "of the student's default schedule)")
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
    p = sub.add_parser("table", help="the results tables from score outputs")
    p.add_argument("--full", help="score folder: base + students on all of INTER test")
    p.add_argument("--subset", help="score folder: base + students on the seeded 500")
    p.add_argument("--cpu", help="score folder: teachers + base + a student on this CPU")
    p.add_argument("--runs", required=True, help="folder of the students (their cards)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_table)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
