"""The start-up check of the Pulumi CLI and the provider plugin."""

from types import SimpleNamespace

import pytest
from pytest_mock import MockerFixture

from database_operator import toolchain
from database_operator.toolchain import ToolchainError, check_toolchain


def test_a_missing_cli_fails_fast_with_a_clear_message(mocker: MockerFixture) -> None:
    mocker.patch.object(toolchain.auto, "PulumiCommand", side_effect=FileNotFoundError("pulumi"))
    with pytest.raises(ToolchainError, match=r"the Pulumi CLI 3\.\d+\.\d+ is required on PATH"):
        check_toolchain()


@pytest.fixture
def pinned_cli(mocker: MockerFixture) -> None:
    """A Pulumi CLI of exactly the pinned version is on PATH."""
    mocker.patch.object(
        toolchain.auto,
        "PulumiCommand",
        return_value=SimpleNamespace(version=toolchain.package_version("pulumi")),
    )


@pytest.mark.usefixtures("pinned_cli")
def test_a_missing_provider_plugin_fails_fast(mocker: MockerFixture) -> None:
    mocker.patch.object(toolchain.shutil, "which", return_value=None)
    with pytest.raises(ToolchainError, match="pulumi-resource-kubernetes is not on PATH"):
        check_toolchain()


@pytest.mark.usefixtures("pinned_cli")
def test_a_provider_plugin_of_another_version_fails_fast(mocker: MockerFixture) -> None:
    mocker.patch.object(toolchain.shutil, "which", return_value="/bin/pulumi-resource-kubernetes")
    mocker.patch.object(toolchain, "provider_version", return_value="4.0.0")
    with pytest.raises(
        ToolchainError, match=r"is version 4\.0\.0; this operator's pulumi-kubernetes SDK needs 4\.25\.0"
    ):
        check_toolchain()
