"""The start-up check that the Pulumi CLI and the Kubernetes provider plugin are the pinned versions."""

import shutil
import subprocess
from importlib.metadata import version as package_version

import grpc
from google.protobuf import empty_pb2
from pulumi import automation as auto
from pulumi.runtime.proto import provider_pb2_grpc
from semver import VersionInfo


class ToolchainError(RuntimeError):
    """The Pulumi CLI or the Kubernetes provider plugin is missing or the wrong version."""


def check_toolchain() -> auto.PulumiCommand:
    """Fail fast, at start-up, when the CLI or the provider plugin is missing or not the pinned version."""
    expected_cli = package_version("pulumi")
    try:
        command = auto.PulumiCommand(version=VersionInfo.parse(expected_cli))
    except Exception as error:
        raise ToolchainError(
            f"the Pulumi CLI {expected_cli} is required on PATH (build it with toolchain/build.sh): {error}"
        ) from error
    if str(command.version) != expected_cli:
        raise ToolchainError(f"the Pulumi CLI on PATH is {command.version}; this operator needs {expected_cli}")
    provider = shutil.which("pulumi-resource-kubernetes")
    if provider is None:
        raise ToolchainError(
            "the Kubernetes provider plugin pulumi-resource-kubernetes is not on PATH "
            "(build it with toolchain/build.sh)"
        )
    expected_provider = package_version("pulumi-kubernetes")
    found = provider_version(provider)
    if found != expected_provider:
        raise ToolchainError(
            f"{provider} is version {found}; this operator's pulumi-kubernetes SDK needs {expected_provider}"
        )
    return command


def provider_version(path: str) -> str:
    """Ask a provider plugin its version the way the engine does: start it and call GetPluginInfo."""
    plugin = subprocess.Popen([path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert plugin.stdout is not None
        port = plugin.stdout.readline().strip()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(empty_pb2.Empty(), timeout=30)
        return str(info.version)
    except (grpc.RpcError, ValueError) as error:
        raise ToolchainError(f"{path} did not answer as a Pulumi provider plugin: {error}") from error
    finally:
        plugin.kill()
        plugin.wait()
