"""``zeroshot distill``: the LLM labels unlabeled text, the encoder learns it.

Stages, each writing into the output folder and each resumable:

1. ``teacher`` (:mod:`.teacher`): the LLM engine labels the texts through the
   resumable batch runner (``teacher/labels.jsonl``);
2. ``filter`` (:mod:`.filters`): a silver dev set is held out and the rules decide
   which labels become training data (``filter/train.jsonl``, ``filter/dev.jsonl``,
   ``filter/report.md``, every rule counted);
3. ``student`` (:mod:`.student`): the default GLiNER model is fine-tuned on them,
   with a share of general training data, through :mod:`zeroshot.training`
   (``student/model``: a model folder ``--model`` loads, with its card);
4. ``report`` (:mod:`.report`): teacher, base encoder and student on a gold set
   when there is one (never used for a choice), their speed, evidence cards.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zeroshot.batch import BatchRunner, Record, read_inputs, read_results
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult
from zeroshot.distill.filters import FilterConfig, FilterReport, apply_filters, silver_rows
from zeroshot.distill.teacher import LABELS, TeacherConfig, run_teacher, summarise_teacher
from zeroshot.results import make_output_dir

logger = logging.getLogger(__name__)

STAGES = ("teacher", "filter", "student", "report")


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    """The student: which model is fine-tuned, on how much, with what else.

    ``replay``: general training data mixed in so the model does not forget:
    ``"fewnerd"`` (Few-NERD INTER-train gold, its dev sentences left out), a
    training-mixture file (``zeroshot-mixture/1``, :mod:`zeroshot.training.mixture`),
    or ``"none"``. ``replay_ratio``: general sentences per distilled sentence.
    ``train_options``: :class:`zeroshot.training.trainer.TrainConfig` fields
    (``epochs``, ``learning_rate``, ``device``, ``batch_size``, ...).
    ``forget_dev``: with Few-NERD replay, that many of the general split's Few-NERD
    dev sentences are scored before and after (its old types: what it kept).
    """

    base_model: str | None = None
    train_limit: int | None = None
    replay: str = "fewnerd"
    replay_ratio: float = 1.0
    train_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    forget_dev: int = 300
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DistillResult:
    out: Path
    teacher: dict[str, Any] | None = None
    filters: dict[str, Any] | None = None
    student: dict[str, Any] | None = None
    report: dict[str, Any] | None = None


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_labels(path: Path) -> dict[str, tuple[DocumentResult, str | None]]:
    """The teacher's results by id (the last row of an id wins, as a retried record's
    newer row is written after its old one)."""
    return {str(doc.id): (doc, error) for doc, error in read_results(path)}


def encoder_predictions(docs: Sequence[DocumentResult], schema: Schema, folder: Path, *,
                        model: str | None, threshold: float, progress: bool = True
                        ) -> dict[str, DocumentResult]:
    """The encoder's spans on the teacher's documents (same tokens), at ``threshold``,
    through the resumable runner (``folder/encoder.jsonl``; redone when the model or
    threshold changed)."""
    from zeroshot.api import build_engine

    engine = build_engine("gliner", **({"model": model} if model else {}))
    try:
        low = schema.with_options(threshold=threshold)
        config = {"identity": {k: str(v) for k, v in engine.identity().items()},
                  "threshold": threshold, "schema": low.to_dict()}
        out, meta = folder / "encoder.jsonl", folder / "encoder.config.json"
        if out.exists() and (not meta.exists() or json.loads(meta.read_text()) != config):
            logger.warning("%s was made under another encoder or threshold: redoing it", out)
            out.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        records = []
        for d in docs:
            tok = d.tokenized()
            records.append(Record(str(d.id), tok if tok is not None else d.text))
        BatchRunner(engine, low, batch_size=64, progress=progress).run(records, out)
    finally:
        engine.close()
    return {str(d.id): d for d, _ in read_results(out)}


def run_filter(labels_path: Path, schema: Schema, folder: Path, config: FilterConfig, *,
               train_limit: int | None, encoder_model: str | None,
               progress: bool = True) -> FilterReport:
    """Split and filter the teacher's labels into ``folder/{train,dev}.jsonl``."""
    labelled = load_labels(labels_path)
    if not labelled:
        raise ZeroshotError(f"{labels_path}: no teacher labels")
    encoder = None
    if config.agreement:
        clean = [d for d, err in labelled.values() if err is None]
        encoder = encoder_predictions(clean, schema, folder,
                                      model=config.agreement_model or encoder_model,
                                      threshold=config.agreement_threshold, progress=progress)
    dev, train, report = apply_filters(labelled, config, train_limit=train_limit,
                                       encoder=encoder)
    if report.spans_without_confidence:
        logger.warning("%d teacher spans have no confidence (the backend gave no "
                       "log-probabilities): the confidence rule kept them",
                       report.spans_without_confidence)
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "dev.jsonl", silver_rows(dev))
    _write_jsonl(folder / "train.jsonl", silver_rows(train))
    (folder / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (folder / "report.md").write_text("\n".join(
        ["# Filter report", "", f"Teacher labels: `{labels_path}`", "",
         f"Rules: `{json.dumps(config.to_dict(), sort_keys=True)}`; train limit: "
         f"{train_limit}", "", *report.markdown(), ""]), encoding="utf-8")
    logger.info("filter: %d dev and %d training records kept", len(dev), len(train))
    return report


def distill(inputs: Sequence[str | Path], schema: Schema | str | Path, out: str | Path, *,
            teacher: TeacherConfig | None = None, filters: FilterConfig | None = None,
            student: StudentConfig | None = None, gold: str | Path | None = None,
            gold_dev: str | Path | None = None, stages: Sequence[str] = STAGES,
            teacher_labels: str | Path | None = None, report_teacher_limit: int | None = 500,
            input_options: dict[str, Any] | None = None, progress: bool = True,
            command: str = "") -> DistillResult:
    """Run (or resume) the distillation stages into ``out``.

    Args:
        inputs: text files (TXT one text per line, JSONL, CoNLL / Few-NERD), read
            like ``zeroshot extract`` reads them (``input_options``: ``fmt``,
            ``text_field``, ``id_field``, ``per_file``).
        schema: the schema the teacher labels and the student learns.
        teacher_labels: reuse another run's ``teacher/labels.jsonl`` instead of
            labelling again (students of one teacher run, e.g. other filter rules).
        gold: a gold file for the report (teacher vs base vs student); never used
            for a choice. ``gold_dev``: a gold file the student's early stopping and
            threshold follow instead of the silver dev set.
        report_teacher_limit: the teacher reads a seeded subset of the gold set of
            this size in the report (it is slow); None: all of it.
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; use {', '.join(STAGES)}")
    schema = Schema.coerce(schema)
    teacher, filters, student = teacher or TeacherConfig(), filters or FilterConfig(), \
        student or StudentConfig()
    out = make_output_dir(out, "the distillation's stages")
    result = DistillResult(out)
    labels = Path(teacher_labels) if teacher_labels else out / "teacher" / LABELS
    if "teacher" in stages and teacher_labels is None:
        records = read_inputs(inputs, **(input_options or {}))
        result.teacher = run_teacher(records, schema, out / "teacher", teacher,
                                     progress=progress).to_dict()
        (out / "teacher" / "summary.json").write_text(json.dumps(result.teacher, indent=2)
                                                      + "\n")
    elif labels.exists():
        result.teacher = summarise_teacher(labels.parent).to_dict()
    if "filter" in stages:
        if not labels.exists():
            raise ZeroshotError(f"no teacher labels at {labels}: run the teacher stage first")
        result.filters = run_filter(labels, schema, out / "filter", filters,
                                    train_limit=student.train_limit,
                                    encoder_model=student.base_model,
                                    progress=progress).to_dict()
    if "student" in stages:
        from zeroshot.distill.student import run_student

        result.student = run_student(out, schema, student, teacher_folder=labels.parent,
                                     gold_dev=Path(gold_dev) if gold_dev else None,
                                     command=command)
    if "report" in stages:
        from zeroshot.distill.report import run_report

        result.report = run_report(out, schema, teacher, student, gold=Path(gold) if gold
                                   else None, teacher_limit=report_teacher_limit,
                                   teacher_folder=labels.parent, progress=progress,
                                   command=command)
    return result
