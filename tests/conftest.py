"""Fixtures shared by every test subsystem."""

import pytest

from database_api.profiles import StacksConfig, load_stacks_config


@pytest.fixture(scope="session")
def stacks_config() -> StacksConfig:
    """The real `stacks-config/` of this checkout."""
    return load_stacks_config()
