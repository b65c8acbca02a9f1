"""zeroshot: zero-shot, schema-driven entity extraction with exact character offsets."""

from zeroshot.api import Extractor, build_engine, extract
from zeroshot.core.align import Aligner, AlignerConfig, align
from zeroshot.core.codecs import RepairPolicy, Scheme, decode, encode
from zeroshot.core.engine import Engine
from zeroshot.core.errors import (
    DataFormatError,
    InvalidTagError,
    SchemaError,
    UnknownLabelError,
    ZeroshotError,
)
from zeroshot.core.loaders import Example, read_conll, read_examples, read_fewnerd, read_jsonl
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import EntityType, OverlapPolicy, Schema
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Mention, Span
from zeroshot.core.text import TokenizedText
from zeroshot.core.validate import validate_output

__version__ = "0.1.0"

__all__ = [
    "Aligner", "AlignerConfig", "AlignmentStatus", "DataFormatError", "DocumentResult",
    "Engine", "EntityType", "Example", "Extractor", "InvalidTagError", "Issue", "Mention",
    "OverlapPolicy", "RepairPolicy", "Schema", "SchemaError", "Scheme", "Span",
    "TokenizedText", "UnknownLabelError", "ZeroshotError", "align", "build_engine", "decode",
    "encode", "evaluate", "extract", "read_conll", "read_examples", "read_fewnerd", "read_jsonl",
    "validate_output",
]
