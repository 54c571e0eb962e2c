"""The Automation API layer with the CLI mocked out: naming, configuration, passwords, errors, recovery."""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
import yaml
from pulumi import automation as auto
from pytest_mock import MockerFixture

from database_api.names import PASSWORD_KEYS
from database_api.network import OperatorPeers
from database_operator import stacks as stacks_module
from database_operator.automation import OperatorStack
from database_operator.engine_events import SECRET_SIGNATURE, StackEvents
from database_operator.guard import ProtectionRefused
from database_operator.passphrase import Passphrase, decrypt_with_key
from database_operator.passwords import CredentialsMissing, LivePasswordsUnread
from database_operator.recovery import IN_FLIGHT_MARKER
from database_operator.server_tls import CA_CERTIFICATE, CA_KEY, CERTIFICATE, KEY
from database_operator.settings import OperatorSettings
from database_operator.stack_errors import StackBusy, StackError, StackOperationFailed
from database_operator.stack_names import stack_name
from database_operator.stacks import StackInput, Stacks
from tests.operator.test_server_tls import DAY, names_in, tls_material

PASSPHRASE = "secret"


def test_stack_names_are_deterministic_and_collision_free() -> None:
    assert stack_name("shop", "orders") == "shop.orders"
    # A dash moved between namespace and name is a different Database, and a different stack.
    assert stack_name("a-b", "c") != stack_name("a", "b-c")
    long_one, long_two = stack_name("team", "x" * 200), stack_name("team", "x" * 199 + "y")
    assert len(long_one) == 100 and long_one != long_two
    assert long_one.startswith("team.xxxx")


def step_event(
    op: str, type_: str, name: str, detailed: dict[str, str] | None = None, retained: bool = False
) -> dict[str, Any]:
    """An engine event announcing one step, as the CLI's event log carries it."""
    urn = f"urn:pulumi:shop.orders::database::{type_}::{name}"
    old = {"type": type_, "urn": urn, "retainOnDelete": retained}
    return {
        "sequence": 1,
        "timestamp": 0,
        "resourcePreEvent": {
            "metadata": {
                "op": op,
                "urn": urn,
                "type": type_,
                "provider": "",
                "old": old,
                "diffs": sorted({key.split(".")[0] for key in detailed or {}}),
                "detailedDiff": {key: {"diffKind": kind} for key, kind in (detailed or {}).items()},
            }
        },
    }


PREVIEW_EVENTS = [
    {"sequence": 0, "timestamp": 0, "preludeEvent": {"config": {}}},
    step_event("refresh", "kubernetes:apps/v1:StatefulSet", "orders"),
    step_event("update", "kubernetes:apps/v1:StatefulSet", "orders", {"spec.replicas": "update"}),
    step_event("replace", "kubernetes:core/v1:Service", "orders", {"spec.clusterIP": "update-replace"}),
    step_event("delete", "kubernetes:core/v1:PersistentVolumeClaim", "orders-backup", retained=True),
]


SECRET_TYPE = "1b47061264138c4ac30d75fd1eb44270"
UP_EVENTS = [
    {
        "sequence": 5,
        "timestamp": 0,
        "resOutputsEvent": {
            "metadata": {
                "op": "create",
                "urn": "urn:pulumi:shop.orders::database::pulumi:pulumi:Stack::database-shop.orders",
                "type": "pulumi:pulumi:Stack",
                "provider": "",
                "new": {
                    "type": "pulumi:pulumi:Stack",
                    "urn": "urn:pulumi:shop.orders::database::pulumi:pulumi:Stack::database-shop.orders",
                    "outputs": {
                        "endpoint": "orders.shop.svc:3306",
                        # How the event stream shows a secret output when secrets are not shown.
                        "adminPassword": {
                            SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270",
                            "ciphertext": "[secret]",
                        },
                    },
                },
            }
        },
    },
    {"sequence": 6, "timestamp": 0, "summaryEvent": {"resourceChanges": {"create": 6}, "durationSeconds": 1}},
]


class FakeStack:
    """A pulumi.automation Stack; its configuration is the settings file in its workspace, as for the CLI."""

    def __init__(self, settings_file: Path) -> None:
        self.settings_file = settings_file
        self.name = settings_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
        self.workspace = SimpleNamespace(work_dir=str(settings_file.parent), env_vars={})
        self.calls: list[str] = []
        self.up_error: Exception | None = None
        self.stored_outputs: dict[str, auto.OutputValue] = {}
        self.applied_specs: list[dict[str, Any]] = []
        """The spec in the settings file at each `up`: what the CLI applied."""
        self.last_update_settings: str | None = None
        """The settings of the stack's last update, as the backend records them (None: never updated)."""
        self.restore_error: str | None = None

    def settings(self) -> dict[str, Any]:
        """The stack's configuration as its settings file holds it."""
        config: dict[str, Any] = yaml.safe_load(self.settings_file.read_text())["config"]
        return config

    def password(self, key: str) -> str:
        """A password as the CLI would decrypt it from the settings file."""
        document = yaml.safe_load(self.settings_file.read_text())
        key_bytes = Passphrase(PASSPHRASE).key(document["encryptionsalt"])
        return decrypt_with_key(key_bytes, document["config"][f"database:{key}"]["secure"])

    def outputs(self) -> dict[str, auto.OutputValue]:
        self.calls.append("outputs")
        return self.stored_outputs

    def up_from_events(self, refresh: bool) -> StackEvents:
        self.calls.append("up --refresh" if refresh else "up")
        self.applied_specs.append(json.loads(self.settings()["database:spec"]))
        if self.up_error is not None:
            error, self.up_error = self.up_error, None
            raise error
        events = StackEvents()
        for event in UP_EVENTS:
            events.record(auto.EngineEvent.from_json(event))
        return events

    def preview(self, **options: Any) -> Any:
        self.calls.append(f"preview refresh={options.get('refresh')}")
        for event in PREVIEW_EVENTS:
            options["on_event"](auto.EngineEvent.from_json(event))
        return SimpleNamespace(change_summary={"update": 1, "same": 5})

    def cancel(self) -> None:
        self.calls.append("cancel")

    def forget(self, urn: str) -> None:
        self.calls.append(f"forget {urn}")

    def restore_settings(self) -> None:
        """`pulumi config refresh --force`: the settings file becomes the last update's."""
        self.calls.append("restore settings")
        error = self.restore_error or (None if self.last_update_settings else "no previous deployment")
        if error is not None:
            raise auto.CommandError(auto.CommandResult(stdout="", stderr=f"error: {error}", code=255))
        assert self.last_update_settings is not None
        self.settings_file.write_text(self.last_update_settings)

    def refresh(self, **options: Any) -> None:
        self.calls.append(f"refresh clear_pending_creates={options.get('clear_pending_creates')}")


@pytest.fixture
def fake_stack(tmp_path: Path, mocker: MockerFixture) -> FakeStack:
    stack = FakeStack(tmp_path / "workspaces" / "shop.orders" / "Pulumi.shop.orders.yaml")
    mocker.patch.object(OperatorStack, "create", return_value=stack)
    mocker.patch.object(OperatorStack, "select", return_value=stack)
    mocker.patch.object(stacks_module, "check_toolchain", return_value=MagicMock())
    return stack


@pytest.fixture
def stacks(tmp_path: Path, fake_stack: FakeStack) -> Stacks:
    return Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=lambda: None)


REQUEST = StackInput(
    namespace="shop",
    name="orders",
    spec={"type": "mysql", "version": "8.0", "storage": {"size": "1Gi"}},
    engine_profile={"port": 3306},
    environment_profile={"replicas": 1},
)


def test_up_configures_the_stack_and_keeps_secret_outputs_out(stacks: Stacks, fake_stack: FakeStack) -> None:
    outcome = stacks.up(REQUEST)
    assert outcome.changes == {"create": 6} and outcome.changed
    assert outcome.outputs == {"endpoint": "orders.shop.svc:3306"}
    assert fake_stack.settings()["database:name"] == "orders"
    assert fake_stack.settings()["database:spec"] == '{"storage": {"size": "1Gi"}, "type": "mysql", "version": "8.0"}'
    assert set(fake_stack.settings()["database:adminPassword"]) == {"secure"}  # encrypted, never plain
    assert len(fake_stack.password("adminPassword")) >= 32
    assert fake_stack.password("userPassword") != fake_stack.password("adminPassword")
    assert fake_stack.calls == ["up"]  # no CLI run besides `up` itself


def test_an_up_drops_the_config_maps_it_is_told_to_forget_from_the_state_first(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    """The `<name>-config` of an older version, which the old pods mount: Pulumi must not delete it (pod_files.py)."""
    stacks.up(REQUEST, forget=("orders-config",))
    urn = "urn:pulumi:shop.orders::database::kubernetes:core/v1:ConfigMap::orders-config"
    assert fake_stack.calls == [f"forget {urn}", "up"]


def test_forgetting_what_the_state_no_longer_holds_is_no_error(mocker: MockerFixture) -> None:
    """An `up` cut short after its `state delete` runs it again: the resource is gone from the state by then."""
    stack = OperatorStack.__new__(OperatorStack)
    missing = auto.CommandError(auto.CommandResult(stdout="", stderr='error: No such resource "urn" exists', code=1))
    run = mocker.patch.object(OperatorStack, "_run_pulumi_cmd_sync", side_effect=missing)
    stack.forget("urn")
    assert run.call_args.args[0] == ["state", "delete", "urn", "--yes"]
    run.side_effect = auto.CommandError(auto.CommandResult(stdout="", stderr="error: the stack is locked", code=1))
    with pytest.raises(auto.CommandError):
        stack.forget("urn")


def test_passwords_are_generated_once(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(REQUEST)
    encrypted = fake_stack.settings()["database:adminPassword"]
    stacks.up(dataclasses.replace(REQUEST, spec={**REQUEST.spec, "replicas": 3}))
    assert json.loads(fake_stack.settings()["database:spec"])["replicas"] == 3
    assert fake_stack.settings()["database:adminPassword"] == encrypted  # kept as it was


@pytest.mark.usefixtures("fake_stack")
def test_a_stack_is_selected_once(stacks: Stacks) -> None:
    stacks.up(REQUEST)
    stacks.check_drift(REQUEST.stack, None, lambda _: False)
    assert OperatorStack.create.call_count == 1  # type: ignore[attr-defined]
    assert OperatorStack.select.call_count == 0  # type: ignore[attr-defined]


def test_a_lost_workspace_recovers_passwords_from_secret_outputs(
    stacks: Stacks, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    mocker.patch.object(OperatorStack, "create", side_effect=exists)  # in the backend, not here
    fake_stack.stored_outputs = {
        "adminPassword": auto.OutputValue("kept-admin", True),
        "userPassword": auto.OutputValue("kept-user", True),
    }
    stacks.up(REQUEST)
    assert OperatorStack.select.call_count == 1  # type: ignore[attr-defined]
    assert fake_stack.password("adminPassword") == "kept-admin"
    assert fake_stack.password("userPassword") == "kept-user"


def passwords(config: dict[str, Any]) -> dict[str, Any]:
    """The encrypted passwords of a stack configuration, as written."""
    return {key: config[f"database:{key}"] for key in PASSWORD_KEYS}


def restarted_on_a_new_disk(stacks: Stacks, tmp_path: Path, fake_stack: FakeStack, mocker: MockerFixture) -> Stacks:
    """After one `up`: the operator's disk is lost, its backend (an S3 bucket) keeps the stack and the settings of
    its last update; a new operator process starts."""
    stacks.up(REQUEST)
    fake_stack.last_update_settings = fake_stack.settings_file.read_text()
    shutil.rmtree(tmp_path / "workspaces")
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    mocker.patch.object(OperatorStack, "create", side_effect=exists)
    return Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=lambda: None)


def test_a_lost_workspace_gets_the_settings_of_the_stacks_last_update_back(
    stacks: Stacks, tmp_path: Path, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    restarted = restarted_on_a_new_disk(stacks, tmp_path, fake_stack, mocker)
    restarted.up(dataclasses.replace(REQUEST, spec={**REQUEST.spec, "replicas": 3}))
    assert fake_stack.last_update_settings is not None
    assert passwords(fake_stack.settings()) == passwords(yaml.safe_load(fake_stack.last_update_settings)["config"])
    assert json.loads(fake_stack.settings()["database:spec"])["replicas"] == 3
    assert "outputs" not in fake_stack.calls  # the passwords came with the settings: none were looked for


def test_a_failed_restore_is_retried_and_never_replaced_by_new_settings(
    stacks: Stacks, tmp_path: Path, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    restarted = restarted_on_a_new_disk(stacks, tmp_path, fake_stack, mocker)
    fake_stack.restore_error = "blob (code=Unknown): connection reset by peer"

    with pytest.raises(StackError) as failed:
        restarted.up(REQUEST)
    assert failed.value.transient
    assert not fake_stack.settings_file.exists()  # so the next attempt restores, not a settings file made anew

    fake_stack.restore_error = None
    restarted.up(REQUEST)
    assert fake_stack.last_update_settings is not None
    assert passwords(fake_stack.settings()) == passwords(yaml.safe_load(fake_stack.last_update_settings)["config"])


def test_a_new_stack_adopts_the_live_secrets_passwords(stacks: Stacks, fake_stack: FakeStack) -> None:
    live = {"adminPassword": "live-admin", "userPassword": "live-user"}
    stacks.up(dataclasses.replace(REQUEST, live_passwords=live))
    assert fake_stack.password("adminPassword") == "live-admin"
    assert fake_stack.password("userPassword") == "live-user"


def lock_conflict(host: str, pid: int, since: datetime) -> auto.ConcurrentUpdateError:
    """The error a self-managed backend's CLI gives when another process holds the stack's lock."""
    stderr = (
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
        "the lock file with `pulumi cancel`.\n"
        f"  file:///state/backend/.pulumi/locks/organization/database/shop.orders/1.json: created by root@{host} "
        f"(pid {pid}) at {since.isoformat()}"
    )
    return auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr=stderr, code=255))


@pytest.fixture
def live_pulumi(tmp_path: Path) -> Iterator[int]:
    """A process on this host that runs a command named `pulumi`, as a live lock holder would."""
    command = tmp_path / "bin" / "pulumi"
    command.parent.mkdir()
    command.symlink_to(shutil.which("sleep") or "/bin/sleep")
    process = subprocess.Popen([str(command), "60"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_lock_whose_holder_died_is_released_and_the_operation_retried(stacks: Stacks, fake_stack: FakeStack) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    fake_stack.up_error = lock_conflict(socket.gethostname(), dead.pid, datetime.now(UTC))
    assert stacks.up(REQUEST).changes == {"create": 6}
    assert fake_stack.calls[-3:] == ["up", "cancel", "up"]


def test_a_lock_held_by_a_live_pulumi_process_is_never_taken(
    stacks: Stacks, fake_stack: FakeStack, live_pulumi: int
) -> None:
    fake_stack.up_error = lock_conflict(socket.gethostname(), live_pulumi, datetime.now(UTC) - timedelta(hours=5))
    with pytest.raises(StackBusy, match=f"pid {live_pulumi}"):
        stacks.up(REQUEST)
    assert "cancel" not in fake_stack.calls


def test_a_lock_held_on_another_host_is_taken_only_after_the_operation_timeout(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    fake_stack.up_error = lock_conflict("elsewhere", 1, datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(StackBusy):
        stacks.up(REQUEST)
    assert "cancel" not in fake_stack.calls
    fake_stack.up_error = lock_conflict("elsewhere", 1, datetime.now(UTC) - timedelta(hours=1))  # timeout: 15 min
    stacks.up(REQUEST)
    assert fake_stack.calls[-2:] == ["cancel", "up"]


def test_a_lock_whose_holder_is_not_named_is_never_taken(stacks: Stacks, fake_stack: FakeStack) -> None:
    fake_stack.up_error = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr="[409] Conflict", code=255))
    with pytest.raises(StackBusy):
        stacks.up(REQUEST)
    assert "cancel" not in fake_stack.calls


def test_an_interrupted_operation_is_recovered_before_the_next(
    stacks: Stacks, fake_stack: FakeStack, tmp_path: Path
) -> None:
    marker = tmp_path / "workspaces" / "shop.orders" / IN_FLIGHT_MARKER
    marker.parent.mkdir(parents=True)
    marker.touch()  # the operator died mid-operation
    stacks.up(REQUEST)
    assert fake_stack.calls == ["refresh clear_pending_creates=True", "up"]
    assert not marker.exists()


def test_a_failed_operation_clears_its_marker(stacks: Stacks, fake_stack: FakeStack, tmp_path: Path) -> None:
    fake_stack.up_error = auto.CommandError(auto.CommandResult(stdout="", stderr="error: boom", code=1))
    with pytest.raises(StackOperationFailed):
        stacks.up(REQUEST)
    assert not (tmp_path / "workspaces" / "shop.orders" / IN_FLIGHT_MARKER).exists()


def test_a_drift_check_reports_each_step_with_its_changed_fields(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(REQUEST)
    outcome = stacks.check_drift(REQUEST.stack, None, lambda _: False).found
    assert fake_stack.calls[-1] == "preview refresh=True"
    assert [(step.op, step.type, step.fields, step.replacing_fields, step.retained) for step in outcome.steps] == [
        ("refresh", "kubernetes:apps/v1:StatefulSet", (), (), False),
        ("update", "kubernetes:apps/v1:StatefulSet", ("spec.replicas",), (), False),
        ("replace", "kubernetes:core/v1:Service", ("spec.clusterIP",), ("spec.clusterIP",), False),
        ("delete", "kubernetes:core/v1:PersistentVolumeClaim", (), (), True),
    ]


@pytest.fixture
def selected(mocker: MockerFixture) -> list[tuple[str, Any]]:
    """Stacks the Automation API selects or creates, each in the workspace directory it was given."""
    opened: list[tuple[str, Any]] = []

    def open_stack(kind: str) -> Any:
        def _open(name: str, workspace: auto.LocalWorkspace) -> FakeStack:
            opened.append((kind, workspace))
            return FakeStack(Path(str(workspace.work_dir)) / f"Pulumi.{name}.yaml")

        return _open

    mocker.patch.object(OperatorStack, "select", side_effect=open_stack("select"))
    mocker.patch.object(OperatorStack, "create", side_effect=open_stack("create"))
    return opened


@pytest.mark.usefixtures("fake_stack")
def test_a_proposed_change_is_previewed_in_a_scratch_copy_of_the_workspace(
    tmp_path: Path, selected: list[tuple[str, Any]]
) -> None:
    operator_file = tmp_path / "workspaces" / "shop.orders" / "Pulumi.shop.orders.yaml"
    operator_file.parent.mkdir(parents=True)
    operator_file.write_text(yaml.safe_dump({"config": {"database:adminPassword": {"secure": "x"}}}))
    (operator_file.parent / IN_FLIGHT_MARKER).touch()  # the operator is busy with this stack right now
    (tmp_path / "backend").mkdir()
    before = operator_file.read_text()
    stacks = Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=lambda: None)

    outcome = stacks.preview_proposed(dataclasses.replace(REQUEST, spec={**REQUEST.spec, "replicas": 3}))

    [(kind, workspace)] = selected
    assert kind == "select"  # an existing stack is previewed, never created
    assert workspace.env_vars["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'backend'}"
    assert not str(workspace.work_dir).startswith(str(tmp_path))  # a scratch workspace, not the operator's
    assert operator_file.read_text() == before  # the operator's configuration is untouched
    assert (operator_file.parent / IN_FLIGHT_MARKER).exists()  # and its operation is not "recovered"
    assert not Path(str(workspace.work_dir)).exists()  # the scratch copy is gone
    assert [step.op for step in outcome.steps] == ["refresh", "update", "replace", "delete"]


@pytest.mark.usefixtures("fake_stack")
def test_a_proposed_new_database_is_previewed_in_a_scratch_backend(
    tmp_path: Path, mocker: MockerFixture, selected: list[tuple[str, Any]]
) -> None:
    missing = auto.StackNotFoundError(
        auto.CommandResult(stdout="", stderr="no stack named 'shop.orders' found", code=255)
    )
    mocker.patch.object(OperatorStack, "select", side_effect=missing)
    (tmp_path / "backend").mkdir()
    stacks = Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=lambda: None)

    stacks.preview_proposed(REQUEST)

    [(kind, workspace)] = selected
    assert kind == "create"
    assert workspace.env_vars["PULUMI_BACKEND_URL"].startswith("file:///tmp/")
    assert list((tmp_path / "backend").iterdir()) == [] and not (tmp_path / "workspaces").exists()


def test_pulumi_processes_get_go_runtime_defaults_unless_the_operator_has_its_own(
    stacks: Stacks, mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = mocker.patch.object(stacks_module, "OperatorWorkspace")
    monkeypatch.setenv("GOMEMLIMIT", "1GiB")
    stacks.up(REQUEST)
    env = workspace.call_args.kwargs["env_vars"]
    assert env["GOGC"] == "400"  # the CLI and the provider collect garbage less often
    assert env["GOMEMLIMIT"] == "1GiB"  # the operator's own setting wins


def test_live_secrets_win_over_old_outputs_for_a_stack_that_lost_its_settings(
    stacks: Stacks, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    """The servers were initialised with what the Secrets hold: a re-created stack takes those, all of them."""
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    mocker.patch.object(OperatorStack, "create", side_effect=exists)
    fake_stack.stored_outputs = {"adminPassword": auto.OutputValue("old-admin", True)}
    live = {
        "adminPassword": "live-admin",
        "userPassword": "live-user",
        "replicationPassword": "live-replication",
        "exporterPassword": "live-exporter",
        "backupPassword": "live-backup",
    }
    live_tls = tls_material()
    stacks.up(dataclasses.replace(REQUEST, live_passwords=live | live_tls, data_volumes=("data-orders-0",)))
    assert [fake_stack.password(key) for key in live] == list(live.values())
    assert fake_stack.password("tlsCaKey") == live_tls["tlsCaKey"]
    assert "outputs" not in fake_stack.calls  # every password and the TLS material were live: nothing to recover


def test_no_new_password_is_made_for_data_that_exists(stacks: Stacks, fake_stack: FakeStack) -> None:
    live = {"adminPassword": "live-admin", "userPassword": "live-user"}  # the replication Secret is gone
    with pytest.raises(CredentialsMissing) as refused:
        stacks.up(dataclasses.replace(REQUEST, live_passwords=live, data_volumes=("data-orders-0", "data-orders-1")))
    assert "Secret orders-replication (key password) is gone" in str(refused.value)
    assert "data-orders-0, data-orders-1" in str(refused.value)
    assert refused.value.reason == "CredentialsMissing" and not refused.value.transient
    assert "up" not in fake_stack.calls
    assert "database:replicationPassword" not in (yaml.safe_load(fake_stack.settings_file.read_text()) or {}).get(
        "config", {}
    )


def test_a_database_made_before_the_exporter_and_backup_accounts_gets_their_passwords_and_keeps_the_others(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    """Its Secrets hold the three passwords the data depends on; the bootstrap sets the two new accounts' passwords
    on the primary's next start, so new ones are made for those, never for the others."""
    live = {"adminPassword": "live-admin", "userPassword": "live-user", "replicationPassword": "live-replication"}
    stacks.up(dataclasses.replace(REQUEST, live_passwords=live, data_volumes=("data-orders-0",)))
    assert [fake_stack.password(key) for key in live] == list(live.values())
    new = [fake_stack.password(key) for key in ("exporterPassword", "backupPassword")]
    assert all(len(password) == 32 for password in new) and new[0] != new[1]
    assert "up" in fake_stack.calls


def test_failing_to_read_the_outputs_is_an_error_not_new_passwords(
    stacks: Stacks, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    mocker.patch.object(OperatorStack, "create", side_effect=exists)
    broken = auto.CommandError(auto.CommandResult(stdout="", stderr="error: failed to decrypt", code=255))
    mocker.patch.object(fake_stack, "outputs", side_effect=broken)
    with pytest.raises(StackError, match="failed to decrypt"):
        stacks.up(REQUEST)
    assert "up" not in fake_stack.calls


def test_the_database_uid_reaches_the_program_and_the_plan_id(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(dataclasses.replace(REQUEST, uid="u-1"))
    assert fake_stack.settings()["database:uid"] == "u-1"
    assert dataclasses.replace(REQUEST, uid="u-1").configuration != REQUEST.configuration


def test_a_loaded_restore_leaves_the_configuration(stacks: Stacks, fake_stack: FakeStack) -> None:
    """Once the dump is loaded the request has none, and the program must stop mounting it."""
    stacks.up(dataclasses.replace(REQUEST, restore={"claim": "source-backup", "file": "nightly.dump"}))
    assert json.loads(fake_stack.settings()["database:restore"]) == {"claim": "source-backup", "file": "nightly.dump"}
    stacks.up(REQUEST)
    assert "database:restore" not in fake_stack.settings()


def test_where_the_operator_reads_metrics_from_reaches_the_program_and_the_plan_id(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    peers = OperatorPeers(namespace="database-operator", cidrs=("192.0.2.1/32",))
    stacks.up(dataclasses.replace(REQUEST, operator_peers=peers))
    assert OperatorPeers.from_config(json.loads(fake_stack.settings()["database:operatorPeers"])) == peers
    assert dataclasses.replace(REQUEST, operator_peers=peers).configuration != REQUEST.configuration


def test_destroy_lifts_the_protection_first(stacks: Stacks, fake_stack: FakeStack, mocker: MockerFixture) -> None:
    destroyed = SimpleNamespace(summary=SimpleNamespace(resource_changes={"delete": 6}))
    fake_stack.destroy_unprotected = mocker.Mock(return_value=destroyed)  # type: ignore[attr-defined]
    outcome = stacks.destroy("shop", "orders")
    fake_stack.destroy_unprotected.assert_called_once_with()  # type: ignore[attr-defined]
    assert outcome.changes == {"delete": 6}


def test_a_step_on_a_protected_object_is_refused_naming_it(stacks: Stacks, fake_stack: FakeStack) -> None:
    urn = "urn:pulumi:shop.orders::database::kubernetes:core/v1:Secret::orders-credentials"
    fake_stack.up_error = auto.CommandError(
        auto.CommandResult(
            stdout="",
            stderr=f'error: unable to replace resource "{urn}"\nas it is currently marked for protection.',
            code=255,
        )
    )
    with pytest.raises(ProtectionRefused) as refused:
        stacks.up(REQUEST)
    assert str(refused.value).startswith("refused: the change would delete or replace Secret orders-credentials")
    assert refused.value.reason == "DataProtection" and not refused.value.transient


class HangingStack(FakeStack):
    """Its first `up` runs a Pulumi process (tagged like the real CLI's) that never ends by itself."""

    def __init__(self, settings_file: Path, command: Path) -> None:
        super().__init__(settings_file)
        self.command = command
        self.hang = True

    def up_from_events(self, refresh: bool) -> StackEvents:
        if not self.hang:
            return super().up_from_events(refresh)
        self.hang = False
        self.calls.append("up (hangs)")
        env = {**os.environ, **self.workspace.env_vars}
        process = subprocess.run([str(self.command), "3600"], env=env, check=False, capture_output=True)
        raise auto.CommandError(auto.CommandResult(stdout="", stderr="", code=process.returncode))


def test_a_hung_operation_is_ended_at_its_timeout_and_retried(tmp_path: Path, mocker: MockerFixture) -> None:
    command = tmp_path / "bin" / "pulumi"
    command.parent.mkdir()
    command.symlink_to(shutil.which("sleep") or "/bin/sleep")
    stack = HangingStack(tmp_path / "workspaces" / "shop.orders" / "Pulumi.shop.orders.yaml", command)
    mocker.patch.object(OperatorStack, "create", return_value=stack)
    mocker.patch.object(stacks_module, "check_toolchain", return_value=MagicMock())
    settings = OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE, operation_timeout_seconds=1)
    stacks = Stacks(settings, program=lambda: None)

    with pytest.raises(StackOperationFailed, match="up did not finish within 1s and was ended") as failed:
        stacks.up(REQUEST)
    assert failed.value.transient
    assert (tmp_path / "workspaces" / "shop.orders" / IN_FLIGHT_MARKER).exists()  # recovered before the next

    assert stacks.up(REQUEST).changes == {"create": 6}
    assert stack.calls == ["up (hangs)", "refresh clear_pending_creates=True", "up"]


SCALED = dataclasses.replace(REQUEST, spec={**REQUEST.spec, "replicas": 3})


def test_a_drift_correction_re_applies_the_configuration_last_applied(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(REQUEST)
    stacks.up(SCALED)  # the newer spec, applied by its reconcile
    # The drift check was scheduled while the older spec was current: it still re-applies the newer one.
    check = stacks.check_drift(REQUEST.stack, REQUEST, lambda _: True)
    assert check.found.changed and check.corrected is not None
    assert fake_stack.calls[-2:] == ["preview refresh=True", "up --refresh"]
    assert fake_stack.applied_specs[-1]["replicas"] == 3


def test_a_drift_correction_after_an_upgrade_leaves_the_old_pods_config_map_alone(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    """The new program's hashed ConfigMap shows as drift; the correction must not delete `<name>-config`."""
    stacks.up(REQUEST)
    stacks.check_drift(REQUEST.stack, None, lambda _: True, forget=("orders-config",))
    urn = "urn:pulumi:shop.orders::database::kubernetes:core/v1:ConfigMap::orders-config"
    assert fake_stack.calls[-3:] == ["preview refresh=True", f"forget {urn}", "up --refresh"]


def test_a_drift_check_follows_the_applied_spec_s_drift_policy(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(dataclasses.replace(REQUEST, spec={**REQUEST.spec, "driftPolicy": "Report"}))
    policies: list[object] = []
    check = stacks.check_drift(REQUEST.stack, None, lambda spec: policies.append(spec["driftPolicy"]) or False)
    assert policies == ["Report"] and check.corrected is None
    assert fake_stack.calls[-1] == "preview refresh=True"


def test_a_lost_workspace_is_checked_against_the_fallback(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.check_drift(REQUEST.stack, SCALED, lambda _: True)
    assert fake_stack.applied_specs == [SCALED.spec]


def test_a_preview_of_a_new_database_does_not_make_its_real_stack_count_as_new(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    """The preview's scratch stack is created under the real stack's name. If the real stack then turns out to
    exist already (another operator instance created it meanwhile) and this workspace has no settings, its
    passwords come from its outputs: never new ones for a database that runs with the old."""
    mocker.patch.object(stacks_module, "check_toolchain", return_value=MagicMock())
    missing = auto.StackNotFoundError(auto.CommandResult(stdout="", stderr="no stack named", code=255))
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    scratch = FakeStack(tmp_path / "scratch" / "Pulumi.shop.orders.yaml")
    real = FakeStack(tmp_path / "workspaces" / "shop.orders" / "Pulumi.shop.orders.yaml")
    real.stored_outputs = {key: auto.OutputValue(f"kept-{key}", True) for key in ("adminPassword", "userPassword")}
    mocker.patch.object(OperatorStack, "select", side_effect=[missing, real])
    mocker.patch.object(OperatorStack, "create", side_effect=[scratch, exists])
    (tmp_path / "backend").mkdir()
    scratch.settings_file.parent.mkdir()
    stacks = Stacks(OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE), program=lambda: None)

    stacks.preview_proposed(REQUEST)
    stacks.up(REQUEST)

    assert real.password("adminPassword") == "kept-adminPassword"
    assert real.password("userPassword") == "kept-userPassword"


def test_passwords_lost_after_the_secrets_were_skipped_are_never_made_anew(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    """The live Secrets are not read while the settings hold every password (live_passwords None); settings that
    lost one since then make the operation fail, to be retried with the Secrets read."""
    with pytest.raises(LivePasswordsUnread) as unread:
        stacks.up(dataclasses.replace(REQUEST, live_passwords=None))
    assert unread.value.transient
    assert "up" not in fake_stack.calls
    assert "database:adminPassword" not in (yaml.safe_load(fake_stack.settings_file.read_text()) or {}).get(
        "config", {}
    )


# -- TLS material: kept like the passwords, never a new CA while a copy of it exists ----------------------------


def kept(fake: FakeStack) -> dict[str, str]:
    """The TLS material in the stack's settings, decrypted."""
    settings = fake.settings()
    return {
        CA_CERTIFICATE: settings[f"database:{CA_CERTIFICATE}"],
        CA_KEY: fake.password(CA_KEY),
        CERTIFICATE: settings[f"database:{CERTIFICATE}"],
        KEY: fake.password(KEY),
    }


def test_the_ca_and_certificate_are_made_once_with_the_keys_encrypted(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(REQUEST)
    settings = fake_stack.settings()
    assert set(settings[f"database:{CA_KEY}"]) == {"secure"} and set(settings[f"database:{KEY}"]) == {"secure"}
    first = kept(fake_stack)
    assert "orders-0.orders-headless.shop.svc" in names_in(first[CERTIFICATE])

    stacks.up(dataclasses.replace(REQUEST, spec={**REQUEST.spec, "replicas": 3}))
    assert kept(fake_stack) == first  # runs twice: nothing made anew
    assert settings[f"database:{CA_KEY}"] == fake_stack.settings()[f"database:{CA_KEY}"]  # not even re-encrypted


def test_a_stack_that_lost_its_settings_adopts_the_live_ca_and_certificate(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    live = tls_material(issued=datetime.now(UTC))
    stacks.up(dataclasses.replace(REQUEST, live_passwords=live))
    assert kept(fake_stack) == live


def test_without_live_secrets_the_ca_comes_back_from_the_stack_outputs_never_anew(
    stacks: Stacks, fake_stack: FakeStack, mocker: MockerFixture
) -> None:
    exists = auto.StackAlreadyExistsError(auto.CommandResult(stdout="", stderr="stack already exists", code=255))
    mocker.patch.object(OperatorStack, "create", side_effect=exists)  # in the backend, not in this workspace
    old = tls_material(issued=datetime.now(UTC))
    fake_stack.stored_outputs = {key: auto.OutputValue(value, key in (CA_KEY, KEY)) for key, value in old.items()}
    stacks.up(REQUEST)
    assert kept(fake_stack) == old


def test_the_renewal_annotation_renews_once_with_the_same_ca(stacks: Stacks, fake_stack: FakeStack) -> None:
    stacks.up(REQUEST)
    before = kept(fake_stack)
    stacks.up(dataclasses.replace(REQUEST, tls_renewal="2026-06-01T10:00"))
    renewed = kept(fake_stack)
    assert renewed[CERTIFICATE] != before[CERTIFICATE] and renewed[KEY] != before[KEY]
    assert (renewed[CA_CERTIFICATE], renewed[CA_KEY]) == (before[CA_CERTIFICATE], before[CA_KEY])
    stacks.up(dataclasses.replace(REQUEST, tls_renewal="2026-06-01T10:00"))  # a retry, or any later apply
    assert kept(fake_stack) == renewed


def test_an_old_certificate_is_renewed_and_the_next_renewal_is_recorded(stacks: Stacks, fake_stack: FakeStack) -> None:
    now = datetime.now(UTC)
    old = tls_material(issued=now - 61 * DAY, lifetime=90 * DAY)
    stacks.up(dataclasses.replace(REQUEST, live_passwords=old))
    renewed = kept(fake_stack)
    assert renewed[CA_CERTIFICATE] == old[CA_CERTIFICATE] and renewed[CERTIFICATE] != old[CERTIFICATE]
    due = datetime.fromisoformat(fake_stack.settings()["database:tlsRenewAfter"])
    assert now + 59 * DAY < due < now + 61 * DAY  # two thirds of the configured 90 days


def test_tls_material_lost_after_the_secrets_were_skipped_is_never_made_anew(
    stacks: Stacks, fake_stack: FakeStack
) -> None:
    stacks.up(REQUEST)
    document = yaml.safe_load(fake_stack.settings_file.read_text())
    del document["config"][f"database:{CA_CERTIFICATE}"]  # lost after the operation found the settings complete
    fake_stack.settings_file.write_text(yaml.safe_dump(document))
    with pytest.raises(LivePasswordsUnread):
        stacks.up(dataclasses.replace(REQUEST, live_passwords=None))
    assert f"database:{CA_CERTIFICATE}" not in fake_stack.settings()  # no new CA: the next attempt reads the Secrets
