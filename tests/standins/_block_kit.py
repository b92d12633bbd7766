"""Owns Block Kit checking for the Slack stand-in and the block tests: slack_sdk's own models, and then some.

Each block is parsed with `slack_sdk.models.blocks.Block.parse` and serialised with `to_dict()`,
which runs every nested limit slack_sdk knows (section text 3,000, button text 75, header 150,
elements per block …). `validate_json()` alone checks only the outer object, and `Block.parse`
turns an unknown type into None with a log line, so both are checked here too. On top of that:
duplicate block ids, duplicate action ids within a block, properties slack_sdk does not know
(Slack answers "failed to match all allowed schemas"), and interactive elements without an
action_id. Slack itself would invent an action_id for those; learnbot routes every click by its
action_id, so an element without one is a button that can never work, and is refused here.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, BlockElement, InteractiveElement
from slack_sdk.models.views import View

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 40_000  # chat.postMessage / chat.update `text`: msg_too_long beyond it


def block_errors(blocks: Any, *, limit: int, pointer: str) -> list[str]:
    """Slack-style "[ERROR] … [json-pointer:…]" messages for a list of blocks; [] when Slack would take it."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    messages: list[str] = []
    if len(blocks) > limit:
        messages.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    seen_ids: dict[str, int] = {}
    for index, raw in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(raw, dict):
            messages.append(f"[ERROR] must be an object [json-pointer:{where}]")
            continue
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in seen_ids:
                messages.append(f"[ERROR] duplicate block_id {block_id!r} (also at {pointer}/{seen_ids[block_id]}) "
                                f"[json-pointer:{where}/block_id]")
            else:
                seen_ids[block_id] = index
        messages.extend(_one_block(raw, where))
    return messages


def view_errors(view: dict[str, Any], *, pointer: str = "/view") -> list[str]:
    """What slack_sdk's View model refuses (title, submit, close, metadata, callback_id …), blocks included."""
    messages = block_errors(view.get("blocks", []), limit=VIEW_BLOCK_LIMIT, pointer=f"{pointer}/blocks")
    try:
        # to_dict(), not validate_json(): only to_dict() serialises (and so validates) the blocks too.
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError) as exc:
        if not messages:  # a block error is already reported with its pointer
            messages.append(f"[ERROR] {exc} [json-pointer:{pointer}]")
    return messages


def _one_block(raw: dict[str, Any], where: str) -> list[str]:
    try:
        parsed = Block.parse(raw)
    except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as exc:
        return [f"[ERROR] {exc} [json-pointer:{where}]"]
    if parsed is None:
        return [f"[ERROR] unsupported block type {raw.get('type')!r} [json-pointer:{where}/type]"]
    try:
        out = parsed.to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as exc:
        return [f"[ERROR] {exc} [json-pointer:{where}]"]
    messages = [f"[ERROR] {problem} [json-pointer:{where}{path}]" for path, problem in _lost(raw, out, "")]
    messages.extend(_action_id_errors(raw, where))
    messages.extend(_initial_value_errors(raw, where))
    return messages


INPUT_MAX = 3000  # plain_text_input's max_length, and so its initial_value, at most 3,000 characters


def _initial_value_errors(raw: dict[str, Any], where: str) -> list[str]:
    """Slack refuses a plain_text_input whose initial_value is longer than its max_length (or 3,000)."""
    element = raw.get("element") if raw.get("type") == "input" else None
    if not (isinstance(element, dict) and element.get("type") == "plain_text_input" and element.get("initial_value")):
        return []
    limit = min(int(element.get("max_length") or INPUT_MAX), INPUT_MAX)
    if len(str(element["initial_value"])) <= limit:
        return []
    return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/element/initial_value]"]


def _lost(raw: Any, out: Any, path: str) -> list[tuple[str, str]]:
    """What slack_sdk dropped on its way through the models: unknown properties and element types."""
    problems: list[tuple[str, str]] = []
    if isinstance(raw, dict) and isinstance(out, dict):
        for key, value in raw.items():
            if value is None:
                continue
            if key not in out:
                problems.append((f"{path}/{key}", f"unknown property {key!r}"))
            else:
                problems.extend(_lost(value, out[key], f"{path}/{key}"))
    elif isinstance(raw, list) and isinstance(out, list):
        for index, (r, o) in enumerate(zip(raw, out, strict=False)):
            if o is None and r is not None:
                kind = r.get("type") if isinstance(r, dict) else type(r).__name__
                problems.append((f"{path}/{index}", f"unsupported element type {kind!r}"))
            else:
                problems.extend(_lost(r, o, f"{path}/{index}"))
    return problems


def _elements(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for key in ("accessory", "element"):
        if isinstance(raw.get(key), dict):
            found.append((f"/{key}", raw[key]))
    if raw.get("type") == "actions" and isinstance(raw.get("elements"), list):
        found.extend((f"/elements/{i}", e) for i, e in enumerate(raw["elements"]) if isinstance(e, dict))
    return found


def _action_id_errors(raw: dict[str, Any], where: str) -> list[str]:
    messages: list[str] = []
    seen: set[str] = set()
    for path, element in _elements(raw):
        try:
            parsed = BlockElement.parse(element)
        except (SlackObjectFormationError, TypeError, ValueError):
            continue  # already reported by to_dict()
        if not isinstance(parsed, InteractiveElement):
            continue
        action_id = element.get("action_id")
        if not action_id:
            messages.append(f"[ERROR] missing required field: action_id [json-pointer:{where}{path}]")
        elif action_id in seen:
            messages.append(f"[ERROR] duplicate action_id {action_id!r} [json-pointer:{where}{path}/action_id]")
        else:
            seen.add(action_id)
    return messages
