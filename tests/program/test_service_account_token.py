"""Database and backup pods get no Kubernetes API token: a compromised database cannot act as its namespace's
service account."""

import pytest

from tests.program.conftest import RenderSpec


@pytest.mark.parametrize("engine", ["mysql", "mariadb", "postgresql"])
def test_database_and_backup_pods_mount_no_service_account_token(render: RenderSpec, engine: str) -> None:
    version = {"mysql": "8.0", "mariadb": "10.11", "postgresql": "16"}[engine]
    rendered = render(
        {"type": engine, "version": version, "storage": {"size": "1Gi"}, "replicas": 2, "backup": {"enabled": True}}
    )
    database_pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    backup_pod = rendered.get("CronJob", "orders-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert database_pod["automountServiceAccountToken"] is False
    assert backup_pod["automountServiceAccountToken"] is False
