"""What the operator watches besides Databases, and the label selectors the API server filters those watches by.

kopf's `labels=` filters on handlers run in the operator: without more, every Pod, Service, ConfigMap,
StatefulSet and Job event of every served namespace reaches it and is parsed, to be dropped. kopf (1.45) sends
`settings.watching.label_selectors` with its LISTs and watches, so the API server sends only our objects' events.
The handlers keep their `labels=` too: the same labels, so nothing else reaches them either way. In namespaced
mode kopf itself watches each served namespace, never the cluster.
"""

import kopf

MANAGED = {"app.kubernetes.io/managed-by": "database-operator"}
DATABASE_POD = {**MANAGED, "app.kubernetes.io/component": "database"}
BACKUP_JOB = {**MANAGED, "app.kubernetes.io/component": "backup"}
# Watched for drift. Secrets are left to the periodic check: watching every Secret in the cluster is neither
# cheap nor least-privilege.
OWNED_KINDS = [("apps", "v1", "statefulsets"), ("", "v1", "configmaps"), ("", "v1", "services")]
PODS = ("", "v1", "pods")
JOBS = ("batch", "v1", "jobs")


def label_selector(labels: dict[str, str]) -> str:
    """The API's label selector syntax: every label must match."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def filter_watches_server_side(settings: kopf.OperatorSettings) -> None:
    """Every watch of a kind we own, its initial LIST included, carries the labels its handler filters by."""
    for kind in OWNED_KINDS:
        settings.watching.label_selectors[kind] = label_selector(MANAGED)
    settings.watching.label_selectors[PODS] = label_selector(DATABASE_POD)
    settings.watching.label_selectors[JOBS] = label_selector(BACKUP_JOB)
