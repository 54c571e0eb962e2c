"""Services, production availability (PDB, anti-affinity), monitoring, and the stack outputs."""

from tests.program.conftest import RenderSpec

MYSQL = {"type": "mysql", "version": "8.4", "storage": {"size": "1Gi"}}


def test_the_client_service_routes_to_the_primary_and_the_read_only_service_to_replicas(render: RenderSpec) -> None:
    rendered = render({**MYSQL, "replicas": 3})
    client = rendered.get("Service", "orders")["spec"]
    read_only = rendered.get("Service", "orders-ro")["spec"]
    headless = rendered.get("Service", "orders-headless")["spec"]
    pods = rendered.get("StatefulSet", "orders")["spec"]["selector"]["matchLabels"]
    assert client["type"] == read_only["type"] == "ClusterIP"
    assert client["ports"] == read_only["ports"] == [{"name": "mysql", "port": 3306, "targetPort": "mysql"}]
    # Pod 0 by the name the StatefulSet controller gives it; replicas by the role the operator labels them with.
    assert client["selector"] == {**pods, "database.example.com/role": "primary"}
    assert read_only["selector"] == {**pods, "database.example.com/role": "replica"}
    # Every pod, ready or not, has a stable name: replicas find the primary through it.
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert headless["selector"] == pods


def test_production_gets_a_disruption_budget_and_spreads_pods(render: RenderSpec) -> None:
    spec = {**MYSQL, "environment": "production", "replicas": 3}
    rendered = render(spec)
    budget = rendered.get("PodDisruptionBudget", "orders")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["metadata"]["annotations"]["database.example.com/availability-target"] == "99.9%"
    affinity = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]["affinity"]
    [term] = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_metrics_add_an_exporter_sidecar_and_a_service_port(render: RenderSpec) -> None:
    rendered = render({**MYSQL, "monitoring": {"enabled": True, "metrics": True}})
    exporter = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]["containers"][1]
    assert exporter["image"].startswith("prom/mysqld-exporter:")
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9104}]
    assert {"name": "metrics", "port": 9104, "targetPort": "metrics"} in rendered.get("Service", "orders")["spec"][
        "ports"
    ]
    assert not rendered.has("ServiceMonitor", "orders-metrics")


def test_metrics_need_monitoring_enabled(render: RenderSpec) -> None:
    rendered = render({**MYSQL, "monitoring": {"enabled": False, "metrics": True}})
    containers = rendered.get("StatefulSet", "orders")["spec"]["template"]["spec"]["containers"]
    assert [container["name"] for container in containers] == ["mysql", "tls-reload"]


def test_service_monitor_only_where_the_api_exists(render: RenderSpec) -> None:
    spec = {**MYSQL, "monitoring": {"enabled": True, "metrics": True}}
    monitor = render(spec, service_monitor_available=True).get("ServiceMonitor", "orders-metrics")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "interval": "30s"}]


def test_outputs_name_every_object_and_the_endpoint(render: RenderSpec) -> None:
    rendered = render(MYSQL, name="billing", namespace="team-a")
    assert rendered.outputs == {
        "endpoint": "billing.team-a.svc:3306",
        "service": "billing",
        "readOnlyEndpoint": "billing-ro.team-a.svc:3306",
        "readOnlyService": "billing-ro",
        "headlessService": "billing-headless",
        "statefulSet": "billing",
        "configMap": rendered.get("ConfigMap", "billing-config")["metadata"]["name"],
        "secret": "billing-credentials",
        "caConfigMap": "billing-ca",
        "backupCronJob": None,
        "selector": "app.kubernetes.io/component=database,app.kubernetes.io/instance=billing,"
        "app.kubernetes.io/name=mysql",
    }


def test_secret_holds_generated_credentials_and_connection_facts(render: RenderSpec) -> None:
    data = render({**MYSQL, "environment": "staging"}).get("Secret", "orders-credentials")["stringData"]
    assert data["admin-username"] == "root"
    assert data["username"] == "app"
    assert data["database"] == "orders"
    assert data["host"] == "orders.shop.svc"
    assert data["port"] == "3306"
    assert data["admin-password"] != data["password"]
