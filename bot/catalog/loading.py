"""Loading a catalogue: read the YAML, validate it, and compile its templates in Jinja2's sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from bot.catalog.schema import SHIPPED_CATALOG, Catalog, CatalogError, SupportModel


def bullets(text: str) -> str:
    """Multi-line text as a Markdown list, so that each line the requester typed stays a line."""
    return "\n".join(f"- {line.strip()}" for line in str(text).splitlines() if line.strip())


class LoadedCatalog:
    """A validated catalogue plus the sandboxed Jinja2 environment of its templates."""

    def __init__(self, catalog: Catalog, template_dir: Path, source: Path):
        self.catalog = catalog
        self.template_dir = template_dir
        self.source = source
        self._compiled: dict[str, Template] = {}

    @cached_property
    def env(self) -> ImmutableSandboxedEnvironment:
        # Markdown, not HTML: autoescape off; user text is made safe before it reaches a template.
        env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(self.template_dir)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )
        env.filters["bullets"] = bullets
        return env

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(template).render(**context)

    def render_string(self, source: str, context: Mapping[str, Any]) -> str:
        template = self._compiled.get(source)
        if template is None:  # compiled once per source (issue titles are rendered on every submission)
            template = self._compiled[source] = self.env.from_string(source)
        return template.render(**context)

    def expression(self, source: str) -> Any:
        return self.env.compile_expression(source, undefined_to_none=False)

    # Delegation keeps call sites short: catalog.model("upload"), catalog.models.
    def model(self, key: str) -> SupportModel | None:
        return self.catalog.model(key)

    @property
    def models(self) -> tuple[SupportModel, ...]:
        return self.catalog.models


def _where(loc: tuple[Any, ...], raw: Mapping[str, Any]) -> str:
    # Name a model by its key rather than its index: "models[new-pathway].fields[3]".
    parts: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            node = node[part]
            key = node.get("key") or node.get("id") if isinstance(node, dict) else None
            parts[-1] = f"{parts[-1]}[{key or part}]" if parts else f"[{part}]"
        else:
            node = node.get(part) if isinstance(node, dict) else None
            parts.append(str(part))
    return ".".join(parts) or "catalogue"


def _yaml_problem(source: Path, exc: yaml.YAMLError) -> str:
    """`path:line:column: what is wrong`, as editors and people read it (PyYAML would say <unicode string>)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(source)
    detail = f"{problem} ({context})" if context else str(problem)
    return f"catalogue {where}: not valid YAML: {detail}"


def load_catalog(path: Path | None = None) -> LoadedCatalog:
    """Load, validate and pre-compile a catalogue; raise CatalogError naming the broken place."""
    source = path or SHIPPED_CATALOG
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read catalogue {source}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(_yaml_problem(source, exc)) from None
    if not isinstance(raw, dict):
        raise CatalogError(f"catalogue {source} must be a mapping with 'version' and 'models'")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_where(tuple(e['loc']), raw)}: {e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors()]
        raise CatalogError(f"catalogue {source} is invalid: " + "; ".join(problems)) from None

    # Templates sit beside the catalogue; a replacement catalogue without its own folder
    # reuses the shipped templates.
    template_dir = source.parent / "templates"
    if not template_dir.is_dir():
        template_dir = SHIPPED_CATALOG.parent / "templates"
    loaded = LoadedCatalog(catalog, template_dir, source)
    _compile_everything(loaded)
    return loaded


def _compile_everything(loaded: LoadedCatalog) -> None:
    """Compile every template and expression now, so a typo fails at start, not at a request."""
    env = loaded.env
    for model in loaded.models:
        names = [model.template] if model.template else [
            o.template for o in model.field(model.template_field or "").options if o.template
        ]
        for name in names:
            try:
                env.get_template(name)
            except TemplateError as exc:
                raise CatalogError(f"models[{model.key}]: template {name!r} in {loaded.template_dir}: {exc}") from None
        sources = [("issue_title", model.issue_title), *((f"labels[{i}]", lbl) for i, lbl in enumerate(model.labels))]
        for where, source in sources:
            try:
                env.from_string(source)
            except TemplateError as exc:
                raise CatalogError(f"models[{model.key}].{where}: {exc}") from None
        if model.triage is not None:
            exprs = [("score", model.triage.score)] + ([("weight", model.triage.weight)] if model.triage.weight else [])
            for where, source in exprs:
                try:
                    loaded.expression(source)
                except TemplateError as exc:
                    raise CatalogError(f"models[{model.key}].triage.{where}: {exc}") from None

