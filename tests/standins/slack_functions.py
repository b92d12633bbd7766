"""functions.completeSuccess and functions.completeError as Slack documents them (docs.slack.dev/reference/methods/
functions.completeSuccess, …/functions.completeError), for FakeSlack.

A workflow step is started with `start_function` (what Slack does before it sends function_executed): it
gets an execution id and its own workflow token (xwfp-…), the `bot_access_token` of the event. Only that
token may end that execution, once; outputs are checked against manifest.yml's output_parameters.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from pathlib import Path
from typing import Any

import yaml

FUNCTION_METHODS = ("functions.completeSuccess", "functions.completeError")
_MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_counter = itertools.count(1)


def _output_parameters(callback_id: str) -> dict[str, Any]:
    return dict((_MANIFEST.get("functions") or {}).get(callback_id, {}).get("output_parameters") or {})


class FunctionsMixin:
    """Mixed into FakeSlack: its executions, by id ({"callback_id", "token", "state", "outputs", "error"})."""

    executions: dict[str, dict[str, Any]]

    def start_function(self, callback_id: str = "request_ld_support") -> tuple[str, str]:
        """A running execution of the app's function: (function_execution_id, bot_access_token)."""
        execution_id = f"Fx0{next(_counter):08d}"
        token = f"xwfp-{secrets.token_hex(12)}"
        self.executions[execution_id] = {"callback_id": callback_id, "token": token, "state": "running",
                                         "outputs": None, "error": None}
        return execution_id, token

    def function_auth_error(self, token: str, args: dict[str, Any]) -> str | None:
        """A function's completion takes the workflow token Slack gave with that execution, and no other."""
        if not token.startswith("xwfp-"):
            return "invalid_auth"
        execution = self.executions.get(str(args.get("function_execution_id") or ""))
        if execution is not None and token != execution["token"]:
            return "invalid_auth"
        return None

    def _running(self, args: dict[str, Any]) -> dict[str, Any]:
        from tests.standins.slack import SlackError, _require

        _require(args, "function_execution_id")
        execution = self.executions.get(str(args["function_execution_id"]))
        if execution is None:
            raise SlackError("function_execution_not_found")
        if execution["state"] != "running":
            raise SlackError("execution_not_in_running_state")
        return execution

    def _functions_complete_success(self, args: dict[str, Any]) -> dict[str, Any]:
        from tests.standins.slack import SlackError, _require

        _require(args, "outputs")
        execution = self._running(args)
        outputs = args["outputs"]
        if isinstance(outputs, str):
            try:
                outputs = json.loads(outputs)
            except ValueError:
                raise SlackError("invalid_arguments", ["[ERROR] outputs must be a JSON object"]) from None
        if not isinstance(outputs, dict):
            raise SlackError("invalid_arguments", ["[ERROR] outputs must be a JSON object"])
        problems = _output_problems(_output_parameters(execution["callback_id"]), outputs)
        if problems:
            raise SlackError("parameter_validation_failed", problems)
        execution.update(state="completed", outputs=outputs)
        return {}

    def _functions_complete_error(self, args: dict[str, Any]) -> dict[str, Any]:
        from tests.standins.slack import _require

        _require(args, "error")
        execution = self._running(args)
        execution.update(state="failed", error=str(args["error"]))
        return {}


def _output_problems(parameters: dict[str, Any], outputs: dict[str, Any]) -> list[str]:
    problems = [f"[ERROR] unknown output parameter: {k}" for k in outputs if k not in parameters]
    for name, spec in parameters.items():
        value = outputs.get(name)
        if value in (None, ""):
            if spec.get("is_required"):
                problems.append(f"[ERROR] missing required output parameter: {name}")
            continue
        kind = spec.get("type")
        if kind in ("string", "slack#/types/user_id") and not isinstance(value, str):
            problems.append(f"[ERROR] {name} must be a string")
        if kind == "slack#/types/date" and not (isinstance(value, str) and _DATE.match(value)):
            problems.append(f"[ERROR] {name} must be a date (YYYY-MM-DD)")
    return problems
