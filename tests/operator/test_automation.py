"""The Automation API internals the operator relies on (automation.py), pinned against the installed SDK."""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi.log
import pulumi.runtime.resource
import pulumi.runtime.rpc
import pytest
from pulumi import automation as auto
from pulumi.runtime.proto import engine_pb2
from semver import VersionInfo

from database_operator.automation import OperatorStack, OperatorWorkspace, drop_sdk_debug_messages
from database_operator.engine_events import SECRET_SIGNATURE

SUMMARY = {"sequence": 2, "timestamp": 0, "summaryEvent": {"resourceChanges": {"create": 2}, "durationSeconds": 1}}
OUTPUTS = {
    "sequence": 1,
    "timestamp": 0,
    "resOutputsEvent": {
        "metadata": {
            "op": "create",
            "urn": "urn:pulumi:s::database::pulumi:pulumi:Stack::database-s",
            "type": "pulumi:pulumi:Stack",
            "provider": "",
            "new": {
                "type": "pulumi:pulumi:Stack",
                "urn": "urn:pulumi:s::database::pulumi:pulumi:Stack::database-s",
                "outputs": {"endpoint": "s:3306", "adminPassword": {SECRET_SIGNATURE: "x", "ciphertext": "[secret]"}},
            },
        }
    },
}


class FakeCLI:
    """A PulumiCommand that records its runs and, for `up`, writes an event log as the CLI would."""

    def __init__(self) -> None:
        self.version = VersionInfo.parse("3.200.0")
        self.command = "pulumi"
        self.runs: list[list[str]] = []

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str], *_: Any) -> auto.CommandResult:
        self.runs.append(args)
        if "--event-log" in args:
            log = Path(args[args.index("--event-log") + 1])
            log.write_text("".join(json.dumps(event) + "\n" for event in (OUTPUTS, SUMMARY)))
        return auto.CommandResult(stdout="", stderr="", code=0)


def workspace(tmp_path: Path, cli: FakeCLI) -> OperatorWorkspace:
    return OperatorWorkspace(
        None,
        work_dir=str(tmp_path),
        program=lambda: None,
        project_settings=auto.ProjectSettings(name="database", runtime="python"),
        pulumi_command=cli,  # type: ignore[arg-type]
    )


def test_operator_stacks_are_constructed_the_way_the_sdk_constructs_stacks(tmp_path: Path) -> None:
    cli = FakeCLI()
    created = OperatorStack.create("s", workspace(tmp_path, cli))
    selected = OperatorStack.select("s", workspace(tmp_path, cli))
    assert isinstance(created, OperatorStack) and isinstance(selected, OperatorStack)
    assert [run[run.index("stack") + 1] for run in cli.runs] == ["init", "select"]


def test_an_up_is_summarised_from_its_events_with_no_other_cli_run(tmp_path: Path) -> None:
    cli = FakeCLI()
    stack = OperatorStack.select("s", workspace(tmp_path, cli))
    cli.runs.clear()
    events = stack.up_from_events(refresh=False)
    assert events.changes is not None and {str(getattr(k, "value", k)): v for k, v in events.changes.items()} == {
        "create": 2
    }
    assert events.plain_outputs == {"endpoint": "s:3306"}
    assert [next(arg for arg in run if re.fullmatch(r"[a-z]+", arg)) for run in cli.runs] == ["up"]


class FakeEngine:
    def __init__(self) -> None:
        self.severities: list[int] = []

    def Log(self, request: engine_pb2.LogRequest) -> None:  # noqa: N802 (the gRPC method's name)
        self.severities.append(request.severity)


def test_the_sdks_debug_messages_never_reach_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FakeEngine()
    monkeypatch.setattr(pulumi.log, "get_engine", lambda: engine)
    monkeypatch.setattr(pulumi.log, "debug", pulumi.log.debug)  # restored after the test
    pulumi.log.debug("resource registration prepared: before")

    drop_sdk_debug_messages()
    pulumi.log.debug("resource registration prepared: after")
    pulumi.log.warn("a warning still goes to the engine")

    assert engine.severities == [engine_pb2.DEBUG, engine_pb2.WARNING]
    # The SDK's registrations log through the module, so they are dropped too.
    assert pulumi.runtime.resource.log is pulumi.runtime.rpc.log is pulumi.log
