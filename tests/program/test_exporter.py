"""The metrics exporter gets the server's address and account in the form its version reads: mysqld_exporter 0.15+
by flags, 0.14 (the local node's) by one DATA_SOURCE_NAME, postgres_exporter by DATA_SOURCE_URI/USER/PASS; as
stacks-config says (`exporter.connection`); always its own account (`exporter`), the password only from its Secret;
always verifying the server against the Database's CA (mounted from the `<name>-ca` ConfigMap)."""

import re
from dataclasses import replace
from typing import Any

import pytest
import yaml

from database_api.profiles import load_stacks_config
from database_program.engines import EXPORTER_CLIENT_FILE
from database_program.monitoring import EXPORTER_QUERIES_FILE
from tests.e2e.cluster import REPO
from tests.program.conftest import ADMIN_PASSWORD, EXPORTER_PASSWORD, MakeContext, Rendered, render_context

MONITORED = {"storage": {"size": "1Gi"}, "monitoring": {"enabled": True, "metrics": True}}
MARIADB = {**MONITORED, "type": "mariadb", "version": "10.11"}
MYSQL = {**MONITORED, "type": "mysql", "version": "8.4"}
POSTGRESQL = {**MONITORED, "type": "postgresql", "version": "15"}


def exporter_sees(rendered: Rendered) -> tuple[list[str], dict[str, str]]:
    """The exporter container's arguments and environment as its process gets them: Secret references resolved
    and `$(VAR)` expanded the way the kubelet does (only variables defined earlier in the list)."""
    container = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]["containers"][1]
    assert container["name"] == "metrics"
    secret = rendered.get("Secret", "orders-exporter")["stringData"]
    environment: dict[str, str] = {}

    def expand(text: str) -> str:
        return re.sub(r"\$\((\w+)\)", lambda match: environment.get(match.group(1), match.group(0)), text)

    for variable in container.get("env", []):
        if "value" in variable:
            assert EXPORTER_PASSWORD not in variable["value"], "a password in a plain env value"
            environment[variable["name"]] = expand(variable["value"])
        else:
            reference: dict[str, Any] = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == "orders-exporter", "the exporter reads only its own account's Secret"
            environment[variable["name"]] = secret[reference["key"]]
    arguments = [expand(argument) for argument in container.get("args", [])]
    assert not any(EXPORTER_PASSWORD in argument for argument in arguments), "a password on the command line"
    assert ADMIN_PASSWORD not in environment.values(), "the exporter never logs in as the superuser"
    return arguments, environment


def rendered_with(make_context: MakeContext, spec: dict[str, Any], config: str) -> Rendered:
    """The Database rendered with the engine profile of `config` (stacks-config or the local overlay)."""
    ctx = make_context(spec)
    return render_context(replace(ctx, engine=load_stacks_config(REPO / config).engine(ctx.spec.engine)))


@pytest.mark.parametrize("spec", [MARIADB, MYSQL], ids=["mariadb", "mysql"])
def test_mysqld_exporter_0_15_gets_flags_and_the_password_in_its_variable(
    make_context: MakeContext, spec: dict[str, Any]
) -> None:
    rendered = rendered_with(make_context, spec, "stacks-config")
    arguments, environment = exporter_sees(rendered)
    assert arguments == [
        "--mysqld.address=127.0.0.1:3306",
        "--mysqld.username=exporter",
        f"--config.my-cnf=/etc/exporter/{EXPORTER_CLIENT_FILE}",
    ]
    assert environment["MYSQLD_EXPORTER_PASSWORD"] == EXPORTER_PASSWORD
    assert "DATA_SOURCE_NAME" not in environment  # 0.15 ignores it
    # Verified TLS: the client file's ssl-ca (0.15's config.go: a custom TLS configuration, tls=custom) is the
    # mounted CA; no skip-verify anywhere; no password in the file (0.15 reads MYSQLD_EXPORTER_PASSWORD).
    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    mounts = {mount["name"]: mount["mountPath"] for mount in pod["containers"][1]["volumeMounts"]}
    assert mounts == {"tls-ca": "/tls-ca", "exporter-files": "/etc/exporter"}
    [volume] = [volume for volume in pod["volumes"] if volume["name"] == "exporter-files"]
    pod_files = rendered.get("ConfigMap", "orders-config")
    assert volume["configMap"] == {
        "name": pod_files["metadata"]["name"],
        "items": [{"key": EXPORTER_CLIENT_FILE, "path": EXPORTER_CLIENT_FILE}],
    }
    client = pod_files["data"][EXPORTER_CLIENT_FILE]
    assert client == "[client]\nssl-ca = /tls-ca/ca.crt\n"
    assert not any("skip" in argument for argument in arguments)


def test_mysqld_exporter_0_14_gets_one_data_source_name_and_no_flag_it_would_refuse(
    make_context: MakeContext,
) -> None:
    """The local node's Debian mysqld_exporter 0.14 exits on an unknown flag."""
    rendered = rendered_with(make_context, MARIADB, "stacks-config-local")
    arguments, environment = exporter_sees(rendered)
    assert arguments == []
    # Verified TLS: `tls=true` checks the server against Go's system CAs, which SSL_CERT_FILE/SSL_CERT_DIR make the
    # mounted CA alone, and the address (127.0.0.1, in the certificate).
    assert environment["DATA_SOURCE_NAME"] == f"exporter:{EXPORTER_PASSWORD}@tcp(127.0.0.1:3306)/?tls=true"
    assert (environment["SSL_CERT_FILE"], environment["SSL_CERT_DIR"]) == ("/tls-ca/ca.crt", "/tls-ca")
    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert pod["containers"][1]["volumeMounts"] == [{"name": "tls-ca", "mountPath": "/tls-ca", "readOnly": True}]
    assert "MYSQLD_EXPORTER_PASSWORD" not in environment
    assert EXPORTER_CLIENT_FILE not in rendered.get("ConfigMap", "orders-config")["data"]  # 0.14 would ignore it


@pytest.mark.parametrize("config", ["stacks-config", "stacks-config-local"])
def test_postgres_exporter_gets_its_data_source_parts(make_context: MakeContext, config: str) -> None:
    arguments, environment = exporter_sees(rendered_with(make_context, POSTGRESQL, config))
    assert arguments == []
    # TLS, verified: the CA from the `<name>-ca` ConfigMap, and `localhost` is in the certificate.
    assert environment["DATA_SOURCE_URI"] == "localhost:5432/postgres?sslmode=verify-full&sslrootcert=/tls-ca/ca.crt"
    pod = rendered_with(make_context, POSTGRESQL, config).get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert {"name": "tls-ca", "mountPath": "/tls-ca", "readOnly": True} in pod["containers"][1]["volumeMounts"]
    assert (environment["DATA_SOURCE_USER"], environment["DATA_SOURCE_PASS"]) == ("exporter", EXPORTER_PASSWORD)


def test_postgres_exporter_0_11_gets_the_lag_query_it_lacks_from_the_config_map(make_context: MakeContext) -> None:
    """Debian's postgres_exporter 0.11 has no replica lag metric: the overlay's custom query makes the one the status
    reads (pg_replication_lag_seconds), from a file of the Database's ConfigMap."""
    rendered = rendered_with(make_context, POSTGRESQL, "stacks-config-local")
    _, environment = exporter_sees(rendered)
    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    [mount] = [mount for mount in pod["containers"][1]["volumeMounts"] if mount["name"] != "tls-ca"]
    [volume] = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    [item] = volume["configMap"]["items"]
    config_map = rendered.get("ConfigMap", "orders-config")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"] and mount["readOnly"] is True
    assert environment["PG_EXPORTER_EXTEND_QUERY_PATH"] == f"{mount['mountPath']}/{item['path']}"
    queries = yaml.safe_load(config_map["data"][item["key"]])
    [[column]] = [list(metric) for metric in queries["pg_replication"]["metrics"]]
    assert f"pg_replication_{column}" == "pg_replication_lag_seconds"
    assert "pg_last_xact_replay_timestamp()" in queries["pg_replication"]["query"]


@pytest.mark.parametrize(
    ("spec", "config"),
    [(POSTGRESQL, "stacks-config"), ({**POSTGRESQL, "monitoring": {"enabled": False}}, "stacks-config-local")],
    ids=["postgres_exporter 0.15", "metrics off"],
)
def test_no_query_file_where_none_is_needed(make_context: MakeContext, spec: dict[str, Any], config: str) -> None:
    rendered = rendered_with(make_context, spec, config)
    assert EXPORTER_QUERIES_FILE not in rendered.get("ConfigMap", "orders-config")["data"]
    pod = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]
    assert not any(volume["name"] == "exporter-files" for volume in pod["volumes"])
    assert not any(
        "EXTEND_QUERY" in variable["name"] for container in pod["containers"] for variable in container["env"]
    )
