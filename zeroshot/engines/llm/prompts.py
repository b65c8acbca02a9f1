"""Chat prompts for the LLM engine, rendered from Jinja2 templates in ``prompts/``.

The wording lives in template files (``extract_system.j2``, ``extract_user.j2``;
for the hybrid engine, which types candidate spans, ``hybrid_system.j2`` and
``hybrid_user.j2``); this module only fills them from a schema and a text.
Few-shot prompts replay the schema's demonstrations as earlier user/assistant
turns, with the assistant turn written as exactly the JSON the model must
produce.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema

SYSTEM_TEMPLATE = "extract_system.j2"
USER_TEMPLATE = "extract_user.j2"
HYBRID_SYSTEM_TEMPLATE = "hybrid_system.j2"
HYBRID_USER_TEMPLATE = "hybrid_user.j2"

Message = dict[str, str]
# A candidate as the hybrid prompt shows it: its text and, when hints are on, the
# type name the encoder gave it.
PromptCandidate = tuple[str, "str | None"]


class PromptError(ZeroshotError):
    """A prompt template is missing or does not render."""


def _bundled_dir() -> Path:
    return Path(str(resources.files("zeroshot.prompts")))


@dataclasses.dataclass(frozen=True)
class PromptBuilder:
    """Renders the chat messages for one text under a schema.

    Args:
        shots: how many of the schema's demonstrations to replay (0: zero-shot).
        describe: include each type's description and examples in the system prompt.
        label_key: what the model writes in ``label``: ``"label"`` (the natural
            language words, default) or ``"name"`` (the type names).
        template_dir: a directory holding the two template files; default the
            bundled ``prompts/``.
    """

    shots: int = 0
    describe: bool = True
    label_key: str = "label"
    template_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise ValueError("shots must be >= 0")
        if self.label_key not in ("label", "name"):
            raise ValueError(f"label_key must be 'label' or 'name', not {self.label_key!r}")

    @cached_property
    def _env(self) -> jinja2.Environment:
        directory = Path(self.template_dir) if self.template_dir else _bundled_dir()
        if not directory.is_dir():
            raise PromptError(f"prompt template directory {directory} does not exist")
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def _render(self, name: str, **variables: Any) -> str:
        try:
            return self._env.get_template(name).render(**variables).strip()
        except jinja2.TemplateNotFound:
            raise PromptError(f"prompt template {name!r} not found in "
                              f"{self.template_dir or _bundled_dir()}") from None
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt template {name!r} failed to render: {exc}") from None

    def _schema_variables(self, schema: Schema) -> dict[str, Any]:
        variables = schema.prompt_variables()
        if self.label_key == "name":
            variables["entity_types"] = [{**t, "label": t["name"]}
                                         for t in variables["entity_types"]]
        return {**variables, "describe": self.describe}

    def system(self, schema: Schema, *, hybrid: bool = False) -> str:
        return self._render(HYBRID_SYSTEM_TEMPLATE if hybrid else SYSTEM_TEMPLATE,
                            **self._schema_variables(schema))

    def _answer(self, entities, schema: Schema) -> str:
        answer = {"entities": [
            {"text": t, "label": schema[n].label if self.label_key == "label" else n}
            for t, n in entities]}
        return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))

    def _check_shots(self, schema: Schema) -> None:
        if self.shots and len(schema.demonstrations) < self.shots:
            raise PromptError(f"{self.shots}-shot prompts need {self.shots} demonstrations; "
                              f"schema {schema.name!r} has {len(schema.demonstrations)}")

    def messages(self, text: str, schema: Schema, *, system: str | None = None
                 ) -> list[Message]:
        """The chat for one text: system, demonstrations (few-shot), the text.

        ``system`` lets a caller render the schema part once per batch.
        """
        out: list[Message] = [{"role": "system",
                               "content": system if system is not None else self.system(schema)}]
        self._check_shots(schema)
        for demo in schema.demonstrations[:self.shots]:
            out.append({"role": "user", "content": self._render(USER_TEMPLATE, text=demo.text)})
            out.append({"role": "assistant", "content": self._answer(demo.entities, schema)})
        out.append({"role": "user", "content": self._render(USER_TEMPLATE, text=text)})
        return out

    def _candidates(self, candidates: Sequence[PromptCandidate], schema: Schema
                    ) -> list[dict[str, str | None]]:
        def word(name: str | None) -> str | None:
            if name is None:
                return None
            return schema[name].label if self.label_key == "label" else name

        return [{"text": t, "hint": word(h)} for t, h in candidates]

    def candidate_messages(self, text: str, candidates: Sequence[PromptCandidate],
                           schema: Schema, *,
                           demo_candidates: Sequence[Sequence[PromptCandidate]] = (),
                           system: str | None = None) -> list[Message]:
        """The hybrid chat: the model types (or rejects) the given candidate spans.

        ``demo_candidates`` holds the candidates proposed for each replayed
        demonstration; its answer is the demonstration's entities among them, so
        a demonstration shows candidates being accepted, retyped and rejected.
        """
        out: list[Message] = [{"role": "system", "content": system if system is not None
                               else self.system(schema, hybrid=True)}]
        self._check_shots(schema)
        demos = schema.demonstrations[:self.shots]
        if len(demo_candidates) < len(demos):
            raise PromptError(f"{len(demos)} demonstrations need their candidates; "
                              f"got {len(demo_candidates)}")
        for demo, cands in zip(demos, demo_candidates, strict=False):
            offered = {t for t, _ in cands}
            out.append({"role": "user", "content": self._render(
                HYBRID_USER_TEMPLATE, text=demo.text, candidates=self._candidates(cands, schema))})
            out.append({"role": "assistant", "content": self._answer(
                [(t, n) for t, n in demo.entities if t in offered], schema)})
        out.append({"role": "user", "content": self._render(
            HYBRID_USER_TEMPLATE, text=text, candidates=self._candidates(candidates, schema))})
        return out
