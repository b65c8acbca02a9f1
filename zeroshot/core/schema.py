"""The one schema format: entity types users write, and what each engine needs from it.

A schema file (JSON or YAML) is validated against the meta-schema
``schemas/zeroshot.schema.json``::

    {"name": "news", "description": "...",
     "entity_types": [{"name": "person", "label": "person name",
                       "description": "...", "examples": ["Ada Lovelace"]}],
     "options": {"overlap": "flat", "threshold": 0.5}}

``name`` is the key used in outputs and metrics, ``label`` the words a model sees.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from zeroshot.core.errors import SchemaError, UnknownLabelError, clip

logger = logging.getLogger(__name__)

META_SCHEMA_NAME = "zeroshot.schema.json"
# Limits a schema file must stay within: far above any real schema, low enough
# that a hostile file (a YAML alias bomb, a huge document) fails at once.
MAX_SCHEMA_BYTES = 5 * 2**20
MAX_YAML_ALIASES = 100
MAX_SCHEMA_NODES = 200_000


class OverlapPolicy(str, enum.Enum):
    """Which overlapping spans a result may hold."""

    FLAT = "flat"
    NESTED = "nested"
    MULTI_LABEL = "multi-label"


@dataclasses.dataclass(frozen=True)
class EntityType:
    """One entity type of a schema."""

    name: str
    label: str = ""
    description: str = ""
    examples: tuple[str, ...] = ()
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise SchemaError("entity type name must be a non-empty string")
        if not self.label:
            object.__setattr__(self, "label", self.name)
        object.__setattr__(self, "examples", tuple(self.examples))
        if self.threshold is not None:
            object.__setattr__(self, "threshold", check_threshold(
                self.threshold, f"entity type {self.name!r}: threshold"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.label != self.name:
            out["label"] = self.label
        if self.description:
            out["description"] = self.description
        if self.examples:
            out["examples"] = list(self.examples)
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out


@dataclasses.dataclass(frozen=True)
class Demonstration:
    """A worked example for few-shot prompts: a text and the entities in it.

    ``entities`` are ``(text, name)`` pairs; every text must occur in the
    demonstration's text and every name must be a type of the schema.
    """

    text: str
    entities: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text,
                "entities": [{"text": t, "label": n} for t, n in self.entities]}


# The encoder threshold when neither the schema, the call nor the model says one.
DEFAULT_THRESHOLD = 0.5


def check_threshold(value: Any, what: str = "threshold") -> float:
    """``value`` as a float in [0, 1]; a clear error for anything else (NaN too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"{what} must be a number in [0, 1], not {clip(value)}")
    if not 0.0 <= value <= 1.0:  # False for NaN as well
        raise SchemaError(f"{what} {value} is not in [0, 1]")
    return float(value)


def overlap_policy(value: Any) -> OverlapPolicy:
    """``value`` as an :class:`OverlapPolicy`; :class:`SchemaError` naming the choices."""
    try:
        return OverlapPolicy(value)
    except ValueError:
        choices = ", ".join(repr(o.value) for o in OverlapPolicy)
        raise SchemaError(f"overlap {clip(value)} is not one of {choices}") from None


@dataclasses.dataclass(frozen=True)
class SchemaOptions:
    """``threshold`` None: the engine's default (a GLiNER model's calibrated one)."""

    overlap: OverlapPolicy = OverlapPolicy.FLAT
    threshold: float | None = None
    max_entities: int = 64
    max_span_chars: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "overlap", overlap_policy(self.overlap))
        if self.threshold is not None:
            object.__setattr__(self, "threshold",
                               check_threshold(self.threshold, "options.threshold"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"overlap": self.overlap.value}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        out.update(max_entities=self.max_entities, max_span_chars=self.max_span_chars)
        return out


@cache
def meta_schema() -> dict[str, Any]:
    """The JSON Schema every schema file must satisfy."""
    text = resources.files("zeroshot.schemas").joinpath(META_SCHEMA_NAME).read_text("utf-8")
    return json.loads(text)


def bundled_schema_path(name: str) -> Path:
    """Path of a bundled schema by file stem (e.g. ``"fewnerd_inter_test"``)."""
    base = resources.files("zeroshot.schemas")
    names = [name] if name.endswith((".json", ".yaml", ".yml")) else [
        f"{name}.json", f"{name}.yaml", f"{name}.yml"]
    for candidate_name in names:
        candidate = base.joinpath(candidate_name)
        if candidate.is_file() and candidate_name != META_SCHEMA_NAME:
            return Path(str(candidate))
    known = sorted(
        p.name.rsplit(".", 1)[0]
        for p in base.iterdir()
        if p.name.endswith((".json", ".yaml", ".yml")) and p.name != META_SCHEMA_NAME
    )
    raise SchemaError(f"no bundled schema named {clip(name)} and no such file; bundled: "
                      f"{', '.join(known)} (for ad-hoc labels pass a list, e.g. [{clip(name)}], "
                      "or --labels on the command line)")


class _StrictYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and counts aliases (the
    pure-Python one, so both can be checked; schema files are small)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise SchemaError(f"more than {MAX_YAML_ALIASES} YAML aliases (line "
                                  f"{mark.line + 1}): refused, as an alias bomb would be")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise SchemaError(f"duplicate key {clip(key)} at line {line} (first at line "
                                  f"{seen[key]})")
            if isinstance(key, (str, int, float, bool)):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        loader = _StrictYamlLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except SchemaError as exc:
        raise SchemaError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SchemaError(f"{source}: invalid YAML{where}: {clip(problem, 200)}") from None


def _parse_json(text: str, source: str) -> Any:
    def no_constant(name: str) -> Any:
        raise SchemaError(f"{source}: {name} is not valid JSON (numbers must be finite)")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise SchemaError(f"{source}: duplicate key {clip(k)} in one object")
            out[k] = v
        return out

    try:
        return json.loads(text, parse_constant=no_constant, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}") from None


def _check_size(data: Any, source: str, limit: int = MAX_SCHEMA_NODES) -> None:
    """Refuse a document of more than ``limit`` values once aliases are expanded
    (counted without expanding them, and stopping at the limit)."""
    stack, count = [data], 0
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            raise SchemaError(f"{source}: more than {limit} values (after YAML aliases are "
                              f"expanded): refused")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _location(error: jsonschema.ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    return f"/{path}" if path else "(root)"


def _clip_line(message: str, limit: int = 200) -> str:
    """A validator message cut to about ``limit`` characters, its start and end kept
    (it quotes the value first and says what is wrong last)."""
    if len(message) <= limit:
        return message
    half = limit // 2
    return f"{message[:half]} ...({len(message) - 2 * half} characters)... {message[-half:]}"


@dataclasses.dataclass(frozen=True)
class Schema:
    """A named set of entity types plus options. Build with the class methods."""

    name: str
    entity_types: tuple[EntityType, ...]
    description: str = ""
    options: SchemaOptions = dataclasses.field(default_factory=SchemaOptions)
    demonstrations: tuple[Demonstration, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_types", tuple(self.entity_types))
        object.__setattr__(self, "demonstrations", tuple(self.demonstrations))
        if not self.entity_types:
            raise SchemaError(f"schema {self.name!r} has no entity types")
        for what, values in (
            ("name", [t.name for t in self.entity_types]),
            ("label", [t.label.casefold() for t in self.entity_types]),
        ):
            seen: dict[str, int] = {}
            for i, v in enumerate(values):
                if v in seen:
                    raise SchemaError(
                        f"schema {clip(self.name)}: duplicate entity type {what} {clip(v)} "
                        f"at /entity_types/{seen[v]} and /entity_types/{i}"
                    )
                seen[v] = i
        names = {t.name for t in self.entity_types}
        for i, demo in enumerate(self.demonstrations):
            for text, name in demo.entities:
                if name not in names:
                    raise SchemaError(f"schema {clip(self.name)}: /demonstrations/{i}: unknown "
                                      f"entity type {clip(name)}")
                if text not in demo.text:
                    raise SchemaError(f"schema {clip(self.name)}: /demonstrations/{i}: entity "
                                      f"{clip(text)} does not occur in the demonstration text")

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_labels(cls, labels: Iterable[str] | Mapping[str, str], name: str = "ad-hoc",
                    *, source: str = "<labels>", **options: Any) -> Schema:
        """Schema from bare labels, or from ``{label: description}``.

        Names and labels are the same strings here; ``options`` are
        :class:`SchemaOptions` fields (``overlap``, ``threshold`` ...); ``source``
        begins any error message (e.g. the command-line flag the labels came from).
        """
        if isinstance(labels, str):
            raise SchemaError("from_labels takes a list of labels, not one string")
        if isinstance(labels, Mapping):
            types = [{"name": k, "description": v} for k, v in labels.items()]
        else:
            types = [{"name": k} for k in labels]
        data: dict[str, Any] = {"name": name, "entity_types": types}
        if options:
            data["options"] = options
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> Schema:
        """Validate ``data`` against the meta-schema and build the schema."""
        if not isinstance(data, Mapping):
            hint = (" (bare labels: Schema.from_labels in Python, --labels on the command line)"
                    if isinstance(data, list) else "")
            raise SchemaError(f"{source}: a schema must be an object, got "
                              f"{type(data).__name__}{hint}")
        data = dict(data)
        opts = data.get("options")
        if isinstance(opts, Mapping) and isinstance(opts.get("overlap"), OverlapPolicy):
            data["options"] = {**opts, "overlap": opts["overlap"].value}
        validator = jsonschema.Draft202012Validator(meta_schema())
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{_location(e)}: {_clip_line(e.message)}" for e in errors[:10]]
            more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
            raise SchemaError(f"{source}: invalid schema\n  " + "\n  ".join(lines) + more)
        try:
            types = tuple(
                EntityType(
                    name=t["name"],
                    label=t.get("label", ""),
                    description=t.get("description", ""),
                    examples=tuple(t.get("examples", ())),
                    threshold=t.get("threshold"),
                )
                for t in data["entity_types"]
            )
            o = data.get("options", {})
            options = SchemaOptions(
                overlap=OverlapPolicy(o.get("overlap", "flat")),
                threshold=o.get("threshold"),
                max_entities=o.get("max_entities", 64),
                max_span_chars=o.get("max_span_chars", 200),
            )
            demonstrations = tuple(
                Demonstration(d["text"], tuple((e["text"], e["label"]) for e in d["entities"]))
                for d in data.get("demonstrations", ())
            )
            return cls(
                name=data["name"],
                description=data.get("description", ""),
                entity_types=types,
                options=options,
                demonstrations=demonstrations,
            )
        except SchemaError as exc:
            raise SchemaError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Load a JSON or YAML schema file, or a bundled schema by name."""
        p = Path(path)
        if not p.exists() and not p.suffix and "/" not in str(path):
            p = bundled_schema_path(str(path))
        try:
            if p.stat().st_size > MAX_SCHEMA_BYTES:
                raise SchemaError(f"{p}: {p.stat().st_size} bytes; a schema file may have at "
                                  f"most {MAX_SCHEMA_BYTES}")
            raw = p.read_bytes()
        except FileNotFoundError:
            raise SchemaError(f"{p}: schema file not found") from None
        except IsADirectoryError:
            raise SchemaError(f"{p}: is a directory, not a schema file") from None
        raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{p}: not UTF-8 (bad byte at offset {exc.start})") from None
        if p.suffix.lower() in (".yaml", ".yml"):
            data = _parse_yaml(text, str(p))
        else:
            data = _parse_json(text, str(p))
        _check_size(data, str(p))
        return cls.from_dict(data, source=str(p))

    @classmethod
    def coerce(cls, schema: Schema | str | Path | Iterable[str] | Mapping[str, Any]) -> Schema:
        """Accept a Schema, a path or bundled name, a list of labels, or a dict."""
        if isinstance(schema, Schema):
            return schema
        if isinstance(schema, (str, Path)):
            return cls.load(schema)
        if isinstance(schema, Mapping):
            if "entity_types" in schema:
                return cls.from_dict(schema)
            return cls.from_labels(schema)  # {label: description}
        return cls.from_labels(list(schema))

    # -- access -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entity_types)

    def __iter__(self) -> Iterator[EntityType]:
        return iter(self.entity_types)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> EntityType:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownLabelError(name, self.names) from None

    @cached_property
    def _by_name(self) -> dict[str, EntityType]:
        return {t.name: t for t in self.entity_types}

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.entity_types)

    def labels(self) -> list[str]:
        """Label strings for the encoder, in schema order."""
        return [t.label for t in self.entity_types]

    def name_for_label(self, label: str) -> str:
        """Map a label string (as a model saw it) back to the type name."""
        for t in self.entity_types:
            if t.label == label:
                return t.name
        raise UnknownLabelError(label, self.labels())

    def resolve_label(self, value: str) -> tuple[str, bool] | None:
        """Find the type a model meant: by name, else by label, case-insensitively.

        Returns ``(name, repaired)`` where ``repaired`` is True unless ``value`` was
        an exact name, or None when nothing matches.
        """
        if value in self._by_name:
            return value, False
        folded = value.strip().casefold()
        for t in self.entity_types:
            if folded in (t.name.casefold(), t.label.casefold()):
                return t.name, True
        return None

    def threshold_for(self, name: str, default: float = DEFAULT_THRESHOLD) -> float:
        """The type's own threshold, else the schema's, else ``default`` (the
        engine's: a model's calibrated threshold)."""
        t = self[name]
        if t.threshold is not None:
            return t.threshold
        return self.options.threshold if self.options.threshold is not None else default

    def thresholds(self, default: float = DEFAULT_THRESHOLD) -> dict[str, float]:
        return {t.name: self.threshold_for(t.name, default) for t in self.entity_types}

    def subset(self, names: Sequence[str]) -> Schema:
        """A schema with only these types (in the given order)."""
        return dataclasses.replace(self, entity_types=tuple(self[n] for n in names))

    def with_options(self, **changes: Any) -> Schema:
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **changes))

    # -- conversions for engines --------------------------------------------------
    def json_schema(self, *, label_key: str = "name", text_enum: Sequence[str] | None = None,
                    max_items: int | None = None, max_chars: int | None = None
                    ) -> dict[str, Any]:
        """JSON Schema for grammar-constrained decoding of ``{"entities": [...]}``.

        Every object is closed (``additionalProperties: false``), ``label`` is an
        enum of the type names (``label_key="label"``: of the natural-language
        labels), and sizes are bounded so a grammar stays finite and a generation
        always ends. ``text_enum`` replaces the free string of ``text`` with a
        fixed choice (grounded decoding: only spans of the input can be written).
        ``max_items`` / ``max_chars`` tighten the schema's bounds for one request
        (never loosen them), so a long answer ends inside its token budget.
        """
        if label_key not in ("name", "label"):
            raise ValueError(f"label_key must be 'name' or 'label', not {label_key!r}")
        labels = list(self.names) if label_key == "name" else self.labels()
        text: dict[str, Any] = {
            "type": "string", "minLength": 1,
            "maxLength": min(self.options.max_span_chars, max_chars or self.options.max_span_chars),
        }
        max_items = min(self.options.max_entities, max_items or self.options.max_entities)
        if text_enum is not None:
            choices = list(dict.fromkeys(text_enum))
            text = {"type": "string", "enum": choices} if choices else text
            max_items = max_items if choices else 0  # nothing to copy: only [] is valid
        return {
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "maxItems": max_items,
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": text,
                            "label": {"type": "string", "enum": labels},
                        },
                        "required": ["text", "label"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["entities"],
            "additionalProperties": False,
        }

    def prompt_variables(self) -> dict[str, Any]:
        """What a prompt template needs: the schema and each type's fields."""
        return {
            "schema_name": self.name,
            "schema_description": self.description,
            "names": list(self.names),
            "entity_types": [
                {
                    "name": t.name,
                    "label": t.label,
                    "description": t.description,
                    "examples": list(t.examples),
                }
                for t in self.entity_types
            ],
            "max_entities": self.options.max_entities,
            "demonstrations": [
                {"text": d.text,
                 "entities": [{"text": t, "name": n, "label": self[n].label}
                              for t, n in d.entities]}
                for d in self.demonstrations
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["entity_types"] = [t.to_dict() for t in self.entity_types]
        out["options"] = self.options.to_dict()
        if self.demonstrations:
            out["demonstrations"] = [d.to_dict() for d in self.demonstrations]
        return out

    def save(self, path: str | Path) -> None:
        p = Path(path)
        if p.suffix.lower() in (".yaml", ".yml"):
            p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        else:
            p.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
