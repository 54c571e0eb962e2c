"""Fixtures for the model, schedule and CRD tests."""

from typing import Any

import pytest


@pytest.fixture
def minimal_spec() -> dict[str, Any]:
    """The seed documents' minimal Database: type, version and storage size only."""
    return {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}}
