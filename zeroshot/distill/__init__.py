"""Distillation: the LLM engine labels a user's unlabeled text, a GLiNER student learns it
(:func:`distill`, ``zeroshot distill``)."""

from zeroshot.distill.filters import FilterConfig, FilterReport
from zeroshot.distill.pipeline import STAGES, DistillResult, StudentConfig, distill
from zeroshot.distill.teacher import TeacherConfig

__all__ = ["STAGES", "DistillResult", "FilterConfig", "FilterReport", "StudentConfig",
           "TeacherConfig", "distill"]
