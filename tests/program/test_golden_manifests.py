"""Golden files of everything the program declares for representative Databases.

A change to the rendered objects shows up as a reviewable diff of `golden/*.yaml`.
Regenerate with `UPDATE_GOLDEN=1 pytest tests/program/test_golden_manifests.py`.
"""

import os
from pathlib import Path

import pytest
import yaml

from tests.program.conftest import RenderSpec

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "mariadb-staging-replicated": {
        "type": "mariadb",
        "version": "11.4",
        "environment": "staging",
        "replicas": 2,
        "storage": {"size": "20Gi"},
        "backup": {"enabled": True},
        "monitoring": {"enabled": True, "metrics": True},
    },
    "mysql-development-minimal": {"type": "mysql", "version": "8.0", "storage": {"size": "10Gi"}},
    "postgresql-production-full": {
        "type": "postgresql",
        "version": "16",
        "environment": "production",
        "replicas": 3,
        "storage": {"size": "100Gi", "class": "fast-ssd"},
        "backup": {"enabled": True, "schedule": "15 1 * * *", "retention": "14d"},
        "monitoring": {"enabled": True, "metrics": True, "logging": True},
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_manifests_match_golden_file(render: RenderSpec, case: str) -> None:
    rendered = render(CASES[case])
    document = {
        "outputs": rendered.outputs,
        "resources": {f"{typ} {name}": inputs for (typ, name), inputs in sorted(rendered.masked_resources.items())},
    }
    text = yaml.safe_dump(document, sort_keys=True, width=120)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"rendered objects differ from {path.name}; review, then UPDATE_GOLDEN=1"
