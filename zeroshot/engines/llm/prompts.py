"""Chat prompts for the LLM engine, rendered from Jinja2 templates in ``prompts/``.

The wording lives in template files (``extract_system.j2``, ``extract_user.j2``);
this module only fills them from a schema and a text. Few-shot prompts replay
the schema's demonstrations as earlier user/assistant turns, with the assistant
turn written as exactly the JSON the model must produce.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema

SYSTEM_TEMPLATE = "extract_system.j2"
USER_TEMPLATE = "extract_user.j2"

Message = dict[str, str]


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

    def system(self, schema: Schema) -> str:
        return self._render(SYSTEM_TEMPLATE, **self._schema_variables(schema))

    def messages(self, text: str, schema: Schema, *, system: str | None = None
                 ) -> list[Message]:
        """The chat for one text: system, demonstrations (few-shot), the text.

        ``system`` lets a caller render the schema part once per batch.
        """
        out: list[Message] = [{"role": "system",
                               "content": system if system is not None else self.system(schema)}]
        if self.shots and len(schema.demonstrations) < self.shots:
            raise PromptError(f"{self.shots}-shot prompts need {self.shots} demonstrations; "
                              f"schema {schema.name!r} has {len(schema.demonstrations)}")
        for demo in schema.demonstrations[:self.shots]:
            answer = {"entities": [
                {"text": t, "label": schema[n].label if self.label_key == "label" else n}
                for t, n in demo.entities]}
            out.append({"role": "user", "content": self._render(USER_TEMPLATE, text=demo.text)})
            out.append({"role": "assistant",
                        "content": json.dumps(answer, ensure_ascii=False,
                                              separators=(",", ":"))})
        out.append({"role": "user", "content": self._render(USER_TEMPLATE, text=text)})
        return out
