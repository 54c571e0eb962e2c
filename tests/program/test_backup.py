"""Backups: volume, script and CronJob, with job settings and credentials from the Secret."""

import pytest

from tests.program.conftest import RenderSpec


def backup_spec(engine: str, **backup: object) -> dict[str, object]:
    version = "8.0" if engine == "mysql" else "16"
    return {"type": engine, "version": version, "storage": {"size": "1Gi"}, "backup": {"enabled": True, **backup}}


@pytest.mark.parametrize(
    ("engine", "image", "tool"), [("mysql", "mysql:8.0", "mysqldump"), ("postgresql", "postgres:16", "pg_dump")]
)
def test_cron_job_runs_the_engine_dump_in_the_same_image(
    render: RenderSpec, engine: str, image: str, tool: str
) -> None:
    rendered = render(backup_spec(engine))
    job = rendered.get("CronJob", "orders-backup")["spec"]
    assert job["schedule"] == "0 2 * * *"
    assert job["concurrencyPolicy"] == "Forbid"
    assert job["startingDeadlineSeconds"] > 0
    assert job["successfulJobsHistoryLimit"] == job["failedJobsHistoryLimit"] == 3
    assert job["jobTemplate"]["spec"]["backoffLimit"] == 2
    [container] = job["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image
    assert container["command"] == ["sh", "/scripts/backup.sh"]
    script = rendered.get("ConfigMap", "orders-backup")["data"]["backup.sh"]
    assert tool in script


def test_schedule_retention_and_volume_follow_spec_and_environment(render: RenderSpec) -> None:
    rendered = render({**backup_spec("postgresql", schedule="30 3 * * 0", retention="12h"), "environment": "staging"})
    job = rendered.get("CronJob", "orders-backup")["spec"]
    assert job["schedule"] == "30 3 * * 0"
    [container] = job["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["RETENTION_MINUTES"]["value"] == "720"
    # The backup account (read and lock grants only), never the admin's.
    assert env["DB_USER"]["valueFrom"]["secretKeyRef"] == {"name": "orders-backup", "key": "username"}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "orders-backup", "key": "password"}
    assert env["DB_HOST"]["value"] == "orders.shop.svc"
    volume = rendered.get("PersistentVolumeClaim", "orders-backup")["spec"]
    assert volume["resources"] == {"requests": {"storage": "10Gi"}}


def test_backup_pods_are_not_selected_by_the_database_service(render: RenderSpec) -> None:
    rendered = render(backup_spec("mysql"))
    selector = rendered.get("Service", "orders")["spec"]["selector"]
    labels = rendered.get("CronJob", "orders-backup")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()


def test_the_backup_volume_size_comes_from_the_spec_when_given(render: RenderSpec) -> None:
    rendered = render(backup_spec("mysql", storageSize="20Gi"))
    assert rendered.get("PersistentVolumeClaim", "orders-backup")["spec"]["resources"] == {
        "requests": {"storage": "20Gi"}
    }
