"""Drift corrections apply only what was applied: never a spec waiting for approval, never an older spec."""

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

from pytest_mock import MockerFixture

from database_api.profiles import StacksConfig
from database_operator import stacks as stacks_module
from database_operator.apply import apply_database
from database_operator.automation import OperatorStack
from database_operator.drift import check_drift
from database_operator.gate import APPROVAL_ANNOTATION
from database_operator.observe import observe_owned_object, watch_database
from database_operator.runtime import Runtime
from database_operator.settings import OperatorSettings
from database_operator.stacks import Stacks
from tests.operator.conftest import FakeKube, FakeStacks, MakeDatabase, result, statefulset
from tests.operator.test_stacks import PASSPHRASE, FakeStack

GATED = {"updatePolicy": "RequireApproval"}


class SuspectAfterOneRound:
    """Stands in for kopf's DaemonStopped: the watcher runs one round."""

    def __init__(self) -> None:
        self.rounds = 0

    def __bool__(self) -> bool:
        self.rounds += 1
        return self.rounds > 1


def test_a_spec_change_during_the_drift_debounce_is_not_applied(
    runtime: Runtime, stacks: FakeStacks, kube: FakeKube, database: MakeDatabase
) -> None:
    """Under RequireApproval the change waits for its plan's approval, even when drift is being corrected."""
    asyncio.run(apply_database(runtime, database(generation=2, replicas=1, **GATED), retry=0))
    approved = database(
        generation=2, replicas=1, annotations={APPROVAL_ANNOTATION: kube.status()["plan"]["id"]}, **GATED
    )
    asyncio.run(apply_database(runtime, approved, retry=0, approval_changed=True))
    assert [call[1].spec["replicas"] for call in stacks.calls if call[0] == "up"] == [1]

    runtime.settings = dataclasses.replace(runtime.settings, drift_debounce_seconds=0.2)
    tracker = runtime.trackers[("shop", "orders")]
    stacks.preview_results.append(result("preview", update=1, same=5))  # the drift: someone scaled the StatefulSet
    observe_owned_object(runtime, "DELETED", statefulset(1, 1))
    body: Any = approved  # kopf's daemon body is live: it sees the spec change the user makes now

    async def watch_and_edit() -> None:
        watcher = asyncio.create_task(watch_database(runtime, body, SuspectAfterOneRound()))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)  # in the debounce
        body["spec"]["replicas"] = 3
        body["metadata"]["generation"] = 3
        await watcher

    asyncio.run(watch_and_edit())
    assert tracker.applied_generation == 2
    applied = [call[1].spec["replicas"] for call in stacks.calls if call[0] in ("up", "correct_drift")]
    assert 3 not in applied  # the unapproved spec never reached the objects


class BlockingPreviewStack(FakeStack):
    """A stack whose drift preview waits until the test lets it finish."""

    def __init__(self, settings_file: Path) -> None:
        super().__init__(settings_file)
        self.previewing = threading.Event()
        self.finish_preview = threading.Event()

    def preview(self, **options: Any) -> Any:
        self.previewing.set()
        self.finish_preview.wait(timeout=10)
        return super().preview(**options)


def test_a_drift_correction_never_reverts_a_newer_applied_spec(
    tmp_path: Path, mocker: MockerFixture, stacks_config: StacksConfig, kube: FakeKube, database: MakeDatabase
) -> None:
    stack = BlockingPreviewStack(tmp_path / "workspaces" / "shop.orders" / "Pulumi.shop.orders.yaml")
    mocker.patch.object(OperatorStack, "create", return_value=stack)
    mocker.patch.object(stacks_module, "check_toolchain", return_value=MagicMock())
    settings = OperatorSettings(state_dir=tmp_path, passphrase=PASSPHRASE, drift_debounce_seconds=0)
    real_stacks = Stacks(settings, program=lambda: None)
    runtime = Runtime(settings=settings, stacks_config=stacks_config, stacks=real_stacks, kube=kube)  # type: ignore[arg-type]
    asyncio.run(apply_database(runtime, database(generation=1, replicas=1), retry=0))
    tracker = runtime.trackers[("shop", "orders")]

    async def drift_check_meets_an_edit() -> None:
        drift = asyncio.create_task(check_drift(runtime, tracker, database(generation=1, replicas=1)))
        await asyncio.to_thread(stack.previewing.wait, 10)
        # The user scales to 2 while the drift preview runs: its `up` queues behind the drift check.
        edit = asyncio.create_task(apply_database(runtime, database(generation=2, replicas=2), retry=0))
        await asyncio.sleep(0.05)
        stack.finish_preview.set()
        await asyncio.gather(drift, edit)

    asyncio.run(drift_check_meets_an_edit())
    assert [spec.get("replicas") for spec in stack.applied_specs][-1] == 2  # the newer spec stays applied
    assert stack.calls[-1] == "up"
