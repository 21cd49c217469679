"""Prompt templates: the shipped ones (named in a recipe) and a user's own, from a YAML
file. A template is chat messages with ``{text}`` where the document goes, a version (part
of every request's cache key: edit a template, bump it) and, for grading templates, how a
score is read from the answer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import regex
import yaml


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    prompt: str
    system: str | None = None
    score_pattern: str | None = None
    """A regex whose first group is the score (the last match in the answer counts)."""
    score_min: float = 0
    score_max: float = 5
    max_doc_chars: int = 10_000
    """Documents are cut at this many characters before they enter the prompt."""

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def messages(self, text: str) -> tuple[tuple[str, str], ...]:
        body = self.prompt.replace("{text}", text[: self.max_doc_chars])
        system = (("system", self.system),) if self.system else ()
        return (*system, ("user", body))

    def score(self, answer: str) -> float | None:
        """The score the answer gives, or None when it gives none in range."""
        if self.score_pattern is None:
            return None
        found = regex.findall(self.score_pattern, answer)
        if not found:
            return None
        last = found[-1]
        try:
            value = float(last[0] if isinstance(last, tuple) else last)
        except ValueError:
            return None
        return value if self.score_min <= value <= self.score_max else None


PROMPTS = Path(__file__).resolve().parent.parent / "data" / "prompts"
"""The shipped templates, one YAML file each; every file names its ``source`` paper."""


def shipped(name: str) -> Template:
    return load_template(PROMPTS / f"{name}.yaml")


GRADERS = ("fineweb_edu", "dataman")
"""``annotate``'s shipped templates: FineWeb-Edu's additive 0-5 educational score (Penedo et
al. 2024) and a subset of DataMan's criteria and domains (Peng et al. 2025)."""

STYLES = ("easy", "wikipedia", "hard", "qa", "diverse_qa", "distill", "extract_knowledge",
          "knowledge_list", "rewire")  # fmt: skip
"""``rewrite``'s styles: WRAP's ``easy``, ``wikipedia``, ``hard``, ``qa`` (Maini et al.
2024); Nemotron-CC's ``diverse_qa``, ``distill``, ``extract_knowledge``, ``knowledge_list``
(Su et al. 2024); REWIRE's ``rewire`` (Nguyen et al. 2025). File ``rewrite_<style>.yaml``."""

_USER_KEYS = {"name", "version", "prompt", "system", "score_pattern", "score_min", "score_max",
              "max_doc_chars", "source"}  # fmt: skip


def load_template(path: str | Path) -> Template:
    """A user's template from a YAML file: ``name``, ``version``, ``prompt`` (with
    ``{text}``) and optionally ``system``, ``score_pattern``, ``score_min``, ``score_max``,
    ``max_doc_chars``, ``source`` (where it comes from). Errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the prompt template ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a prompt template is a mapping (name, version, prompt)")
    unknown = sorted(set(data) - _USER_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown template key(s): {', '.join(unknown)}")
    for key in ("name", "version", "prompt"):
        if key not in data:
            raise ValueError(f"{path}: the template has no {key!r}")
    if "{text}" not in str(data["prompt"]):
        raise ValueError(f"{path}: the prompt must contain {{text}}, where the document goes")
    if data.get("score_pattern") is not None:
        try:
            regex.compile(data["score_pattern"])
        except regex.error as err:
            raise ValueError(f"{path}: score_pattern is not a valid regex ({err})") from err
    data.pop("source", None)
    return Template(**data)


def pick_template(choice: str, names: tuple[str, ...], prefix: str = "") -> Template:
    """A shipped template by name (file ``prefix + name``), or a user's from a
    ``.yaml``/``.yml`` file."""
    if choice in names:
        return shipped(prefix + choice)
    if choice.endswith((".yaml", ".yml")):
        return load_template(choice)
    raise ValueError(f"unknown template {choice!r} (shipped: {', '.join(names)}; or a .yaml file)")


REFUSALS = regex.compile(
    r"(?i)^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i can(no|')t|i cannot|i am unable|"
    r"i'm unable|as an ai\b)"
)


def failure_of(answer: dict, needs_text: bool = True) -> str | None:
    """Why an answer is unusable (``llm_request_failed``, ``llm_truncated``, ``llm_empty``,
    ``llm_refusal``), or None."""
    if answer.get("failure") is not None:
        return "llm_request_failed"
    if answer.get("finish_reason") == "length":
        return "llm_truncated"
    content = (answer.get("content") or "").strip()
    if not content:
        return "llm_empty"
    if needs_text and REFUSALS.match(content):
        return "llm_refusal"
    return None
