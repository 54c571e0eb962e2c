"""TLS on the real node (see test_real_databases.py for what the real node needs). One Database per engine, with a
replica, metrics and backups, serves every assertion:

- a client without TLS is refused; a client that verifies the CA (the `<name>-ca` ConfigMap that
  status.outputs.caConfigMap names) and the Service's name connects;
- the replica copies and streams from the primary over verified TLS, the exporter reads the server (the replica's
  lag reaches the status) and a backup succeeds, all with TLS required;
- mysqld_exporter verifies: as the pods run it (their metrics container's image and CA settings), it reads the
  primary when it trusts the Database's CA and refuses the server when it trusts another CA;
- a forced renewal (the renew-certificate annotation) gives a new certificate the server presents without a
  restart (the pod's restartCount and the server's start time unchanged) while a client that reconnects all
  along never fails."""

import datetime
import time
from typing import Any

import pytest

from database_operator.server_tls import new_ca
from tests.e2e.cluster import BackgroundLoop, Kubectl, wait_for
from tests.e2e.databases import wait_ready
from tests.e2e.test_real_databases import (  # noqa: F401 (fixtures)
    CLIENT_IMAGE,
    READY_TIMEOUT,
    backed_up,
    database,
    namespace,
    real_node,
    real_operator,
)
from tests.node.pods import pod as pod_manifest
from tests.node.pods import start, with_volume

RENEW_ANNOTATION = "database.example.com/renew-certificate"


def verifying_client(kubectl: Kubectl, ns: str, name: str) -> str:
    """A client pod with the Database's CA mounted at /ca and the application user's password."""
    client = f"tls-client-{name}"
    password = {"valueFrom": {"secretKeyRef": {"name": f"{name}-credentials", "key": "password"}}}
    env = [{"name": "PGPASSWORD", **password}, {"name": "MYSQL_PWD", **password}]
    manifest = pod_manifest(client, CLIENT_IMAGE, ["sleep", "infinity"], container={"env": env})
    kubectl.apply(with_volume(manifest, {"name": "ca", "configMap": {"name": f"{name}-ca"}}, "/ca"), "-n", ns)
    kubectl.run("wait", "-n", ns, "--for=condition=Ready", f"pod/{client}", "--timeout=110s")
    return client


def client_command(engine: str, ns: str, tls: str) -> str:
    """One connection as the application user to the `shop` Service, by its full name: `tls` is `plain` (no TLS)
    or `verify` (the CA and the name checked)."""
    host = f"shop.{ns}.svc"
    if engine == "postgresql":
        mode = "sslmode=disable" if tls == "plain" else "sslmode=verify-full sslrootcert=/ca/ca.crt"
        return f"psql 'host={host} user=app dbname=shop {mode}' -X -A -t -c 'SELECT 1'"
    options = "--skip-ssl" if tls == "plain" else "--ssl-ca=/ca/ca.crt --ssl-verify-server-cert"
    return f"mariadb -h {host} -u app {options} -N -B shop -e 'SELECT 1'"


def in_client(kubectl: Kubectl, ns: str, client: str, script: str) -> Any:
    return kubectl.run("exec", "-i", "-n", ns, client, "--", "sh", stdin=script, check=False)


def local_sql(kubectl: Kubectl, ns: str, pod: str, engine: str, sql: str) -> str:
    """SQL as the superuser on the pod's local socket (the server container's own password env for MariaDB)."""
    if engine == "postgresql":
        script = f'psql -U "$ADMIN_USER" -d postgres -X -A -t -c "{sql}"\n'
    else:
        script = f'MYSQL_PWD="$ADMIN_PASSWORD" mariadb -u root -N -B -e "{sql}"\n'
    result = kubectl.run("exec", "-i", "-n", ns, pod, "-c", engine, "--", "sh", stdin=script, check=False)
    assert result.returncode == 0, result.stderr
    return str(result.stdout).strip()


def server_facts(kubectl: Kubectl, ns: str, engine: str) -> tuple[int, float]:
    """The primary's server container restarts, and when its server started (seconds since the epoch)."""
    pod = kubectl.get("pod", "shop-0", ns)
    assert pod is not None
    [status] = [s for s in pod["status"]["containerStatuses"] if s["name"] == engine]
    if engine == "postgresql":
        started = float(
            local_sql(kubectl, ns, "shop-0", engine, "SELECT EXTRACT(EPOCH FROM pg_postmaster_start_time())")
        )
    else:
        uptime = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'"
        started = time.time() - float(local_sql(kubectl, ns, "shop-0", engine, uptime))
    return int(status["restartCount"]), started


def exporter_trusting(kubectl: Kubectl, ns: str, client: str, ca_config_map: str) -> tuple[str, str]:
    """mysqld_exporter as the Database's pods run it (the metrics container's image and its CA settings, with
    `tls=true`), trusting the ca.crt of `ca_config_map`, reading the primary by its name as the application user
    (the exporter account logs in from 127.0.0.1 only): its `mysql_up` line after one scrape, and its log."""
    template = (kubectl.get("statefulset", "shop", ns) or {})["spec"]["template"]["spec"]
    [metrics] = [container for container in template["containers"] if container["name"] == "metrics"]
    settings = {variable["name"]: variable.get("value") for variable in metrics["env"]}
    assert str(settings["DATA_SOURCE_NAME"]).endswith("@tcp(127.0.0.1:3306)/?tls=true")
    [ca_mount] = [mount for mount in metrics["volumeMounts"] if mount["name"] == "tls-ca"]
    assert settings["SSL_CERT_FILE"] == f"{ca_mount['mountPath']}/ca.crt"
    name = f"exporter-{ca_config_map}"
    password = {"valueFrom": {"secretKeyRef": {"name": "shop-credentials", "key": "password"}}}
    env = [
        *({"name": key, "value": settings[key]} for key in ("SSL_CERT_FILE", "SSL_CERT_DIR")),
        {"name": "APP_PASSWORD", **password},
        {"name": "DATA_SOURCE_NAME", "value": f"app:$(APP_PASSWORD)@tcp(shop-0.shop-headless.{ns}.svc:3306)/?tls=true"},
    ]
    manifest = pod_manifest(name, metrics["image"], [], container={"env": env})
    del manifest["spec"]["containers"][0]["command"]  # the image's entrypoint: the exporter
    ca_volume = {"name": "ca", "configMap": {"name": ca_config_map}}
    start(kubectl, ns, with_volume(manifest, ca_volume, ca_mount["mountPath"]))
    address = (kubectl.get("pod", name, ns) or {})["status"]["podIP"]
    scraped = in_client(kubectl, ns, client, f"curl -sf http://{address}:9104/metrics | grep '^mysql_up '\n")
    return scraped.stdout.strip(), kubectl.run("logs", "-n", ns, name, check=False).stdout


class Reconnecting(BackgroundLoop):
    """A client that connects (verifying) every half second until stopped; the failures it saw."""

    def __init__(self, kubectl: Kubectl, ns: str, client: str, command: str) -> None:
        self._kubectl, self._ns, self._client = kubectl, ns, client
        self._script = f"for i in $(seq 40); do {command} >/dev/null 2>&1 || echo FAILED; sleep 0.5; done\n"
        self.failures = 0
        self.rounds = 0
        super().__init__()

    def step(self) -> None:
        result = self._kubectl.run("exec", "-i", "-n", self._ns, self._client, "--", "sh", stdin=self._script)
        self.failures += result.stdout.count("FAILED")
        self.rounds += 1


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_tls_is_required_verified_and_renewed_without_a_restart(
    kubectl: Kubectl,
    namespace: str,  # noqa: F811
    engine: str,
) -> None:
    monitoring = {"enabled": True, "metrics": True}
    kubectl.apply(database("shop", namespace, engine, replicas=2, backup={"enabled": True}, monitoring=monitoring))
    wait_ready(kubectl, "shop", namespace, timeout=READY_TIMEOUT)  # the replica copied and streams: over TLS
    body = kubectl.get("database", "shop", namespace)
    assert body is not None and body["status"]["outputs"]["caConfigMap"] == "shop-ca"
    client = verifying_client(kubectl, namespace, "shop")

    plain = in_client(kubectl, namespace, client, client_command(engine, namespace, "plain") + "\n")
    assert plain.returncode != 0, plain.stdout
    verified = in_client(kubectl, namespace, client, client_command(engine, namespace, "verify") + "\n")
    assert verified.returncode == 0 and verified.stdout.strip() == "1", verified.stderr

    # Replication over verified TLS, the exporter read (the replica's lag in the status), a backup.
    if engine == "postgresql":
        assert (
            local_sql(
                kubectl, namespace, "shop-0", engine, "SELECT ssl FROM pg_stat_replication JOIN pg_stat_ssl USING (pid)"
            )
            == "t"
        )
        assert "verify-full" in local_sql(kubectl, namespace, "shop-1", engine, "SHOW primary_conninfo")
    else:
        status = kubectl.run(
            "exec", "-i", "-n", namespace, "shop-1", "-c", engine, "--", "sh",
            stdin='MYSQL_PWD="$ADMIN_PASSWORD" mariadb -u root -e "SHOW SLAVE STATUS\\G"\n',
        ).stdout  # fmt: skip
        assert "Master_SSL_Verify_Server_Cert: Yes" in status and "Slave_IO_Running: Yes" in status
        other_ca, _ = new_ca("other", namespace, datetime.datetime.now(datetime.UTC))
        kubectl.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other-ca"}, "data": {"ca.crt": other_ca}},
            "-n", namespace,
        )  # fmt: skip
        assert exporter_trusting(kubectl, namespace, client, "shop-ca")[0] == "mysql_up 1"
        up, log = exporter_trusting(kubectl, namespace, client, "other-ca")
        assert up == "mysql_up 0" and "certificate signed by unknown authority" in log, log
    wait_for(
        "the replica's lag from its exporter",
        lambda: any(
            "lagSeconds" in instance
            for instance in ((kubectl.get("database", "shop", namespace) or {}).get("status") or {}).get(
                "instances", []
            )
        ),
        timeout=120,
    )
    backed_up(kubectl, namespace, "shop", "nightly")

    # A forced renewal while a client reconnects every half second.
    before = kubectl.get("secret", "shop-tls", namespace)
    assert before is not None
    facts = server_facts(kubectl, namespace, engine)
    with Reconnecting(kubectl, namespace, client, client_command(engine, namespace, "verify")) as reconnecting:
        kubectl.run("annotate", "database", "shop", "-n", namespace, f"{RENEW_ANNOTATION}=now", "--overwrite")
        wait_for(
            "a new certificate in the Secret",
            lambda: (
                (kubectl.get("secret", "shop-tls", namespace) or {}).get("data", {}).get("tls.crt")
                != before["data"]["tls.crt"]
            ),
            timeout=120,
        )
        wait_for(
            "the server to read it",
            lambda: (
                "reads the renewed certificate"
                in kubectl.run("logs", "-n", namespace, "shop-0", "-c", "tls-reload", check=False).stdout
            ),
            timeout=150,  # the kubelet's Secret volume sync, then tls.sh's next look
        )
    assert reconnecting.rounds > 0 and reconnecting.failures == 0
    restarts, started = server_facts(kubectl, namespace, engine)
    assert restarts == facts[0] and abs(started - facts[1]) < 5  # no restart
    verified = in_client(kubectl, namespace, client, client_command(engine, namespace, "verify") + "\n")
    assert verified.returncode == 0, verified.stderr
