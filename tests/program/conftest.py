"""Mocked-Pulumi rendering: run the real program against `pulumi.runtime.set_mocks` and record every resource."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from database_api.network import OperatorPeers
from database_api.profiles import StacksConfig
from database_api.spec import resolve_spec
from database_program.context import Credentials, DatabaseContext, RestoreSource, ServerTls
from database_program.program import declare_database

ADMIN_PASSWORD = "Adm1n-pa55word-for-tests"
USER_PASSWORD = "Us3r-pa55word-for-tests"
REPLICATION_PASSWORD = "R3pl-pa55word-for-tests"
EXPORTER_PASSWORD = "Exp0rter-pa55word-for-tests"
BACKUP_PASSWORD = "Backup-pa55word-for-tests"
DATABASE_UID = "5b0c5a52-6d7e-4b8a-9a43-2f4c1d0e9f11"
# How the Pulumi wire protocol marks a secret value.
_SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


def _unwrap_secrets(value: Any, mask: bool = False) -> Any:
    """Plain values from the wire form; secret values as they are, or as `<secret>` when masked."""
    if isinstance(value, dict):
        if _SECRET_SIGNATURE in value:
            return "<secret>" if mask else _unwrap_secrets(value["value"])
        return {key: _unwrap_secrets(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item, mask) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the protocol carries every number as a float
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources[(args.typ, args.name)] = args.inputs
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


@dataclass
class Rendered:
    """What the program declared: resource inputs by (Pulumi type, name), secrets unwrapped, plus outputs."""

    resources: dict[tuple[str, str], dict[str, Any]]
    masked_resources: dict[tuple[str, str], dict[str, Any]]
    outputs: dict[str, Any]
    secret_inputs: list[tuple[str, str]]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        matches = [inputs for (typ, res), inputs in self.resources.items() if typ.endswith(f":{kind}") and res == name]
        assert matches, f"no {kind} {name!r} declared; declared: {sorted(self.resources)}"
        return matches[0]

    def has(self, kind: str, name: str) -> bool:
        return any(typ.endswith(f":{kind}") and res == name for typ, res in self.resources)

    def kinds(self) -> list[str]:
        return sorted(typ.rsplit(":", 1)[1] for typ, _ in self.resources)


def render_context(ctx: DatabaseContext) -> Rendered:
    # Pulumi's mocks run on the thread's current event loop; other tests' asyncio.run() leave none behind.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    captured: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[None]:
        outputs = declare_database(ctx)
        return pulumi.Output.all(**outputs).apply(captured.update)

    run()
    return Rendered(
        resources={key: _unwrap_secrets(inputs) for key, inputs in mocks.resources.items()},
        masked_resources={key: _unwrap_secrets(inputs, mask=True) for key, inputs in mocks.resources.items()},
        outputs=captured,
        secret_inputs=[key for key, inputs in mocks.resources.items() if _SECRET_SIGNATURE in repr(inputs)],
    )


RenderSpec = Callable[..., Rendered]
TLS = ServerTls(
    ca_certificate="-----BEGIN CERTIFICATE-----\nthe CA\n-----END CERTIFICATE-----\n",
    ca_key="ca-key-s3cret",
    certificate="-----BEGIN CERTIFICATE-----\nthe server\n-----END CERTIFICATE-----\n",
    key="server-key-s3cret",
)
"""Stand-ins: the program passes the PEMs through, it never reads them."""
MakeContext = Callable[..., DatabaseContext]


@pytest.fixture
def make_context(stacks_config: StacksConfig) -> MakeContext:
    """make_context(spec_dict, name=..., namespace=..., service_monitor_available=..., restore=..., uid=...,
    operator_peers=...)."""

    def _make(
        spec: dict[str, Any],
        name: str = "orders",
        namespace: str = "shop",
        service_monitor_available: bool = False,
        restore: RestoreSource | None = None,
        uid: str | None = DATABASE_UID,
        operator_peers: OperatorPeers | None = None,
    ) -> DatabaseContext:
        resolved = resolve_spec(spec, stacks_config)
        return DatabaseContext(
            name=name,
            namespace=namespace,
            spec=resolved,
            engine=stacks_config.engine(resolved.engine),
            environment=stacks_config.environment(resolved.environment),
            credentials=Credentials(
                admin_password=ADMIN_PASSWORD,
                user_password=USER_PASSWORD,
                replication_password=REPLICATION_PASSWORD,
                exporter_password=EXPORTER_PASSWORD,
                backup_password=BACKUP_PASSWORD,
            ),
            tls=TLS,
            service_monitor_available=service_monitor_available,
            restore=restore,
            uid=uid,
            operator_peers=operator_peers or OperatorPeers(),
        )

    return _make


@pytest.fixture
def render(make_context: MakeContext) -> RenderSpec:
    """render(spec_dict, name=..., namespace=..., service_monitor_available=...) -> Rendered."""

    def _render(spec: dict[str, Any], **context: Any) -> Rendered:
        return render_context(make_context(spec, **context))

    return _render
