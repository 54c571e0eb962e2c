"""Renewal by age, end to end: the per-Database watch renews a server certificate that is two thirds into its life,
with nobody asking (no renewal annotation). The Database starts from the Secrets a Database of its name left behind
(deletionPolicy Retain: the operator's labels): its CA and a certificate that CA issued, due a little later. The
first apply adopts both, and the watch (checking every few seconds here) renews the certificate once it is due:
same CA, byte for byte, a new key, the environment's lifetime."""

import base64
import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from database_api.profiles import EnvironmentProfile
from database_operator.server_tls import RENEW_ANNOTATION, issue, new_ca, renew_after, server_hostnames
from database_operator.x509_issuer import BACKDATE
from tests.e2e.cluster import Kubectl, OperatorProcess, wait_for
from tests.e2e.databases import database, wait_ready
from tests.e2e.test_drift_precheck import checking_operator, precheck_namespace  # noqa: F401 (fixtures)

DUE_IN = datetime.timedelta(seconds=45)
"""How long after the seeding the certificate falls due: time enough for the Database to become ready first."""
SEEDED_LIFETIME = datetime.timedelta(days=3)


def left_behind(name: str, kind: str, data: dict[str, str]) -> dict[str, Any]:
    """A Secret of the Database `aging` that outlived it (what ownership.is_own adopts)."""
    labels = {"app.kubernetes.io/managed-by": "database-operator", "app.kubernetes.io/instance": "aging"}
    metadata = {"name": name, "labels": labels}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": kind, "stringData": data}


def certificate_in(kubectl: Kubectl, namespace: str) -> x509.Certificate:
    data = (kubectl.get("secret", "aging-tls", namespace) or {})["data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))


def public_key(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_the_watch_renews_a_certificate_two_thirds_into_its_life_with_the_same_ca(
    kubectl: Kubectl,
    checking_operator: OperatorProcess,  # noqa: F811
    precheck_namespace: str,  # noqa: F811
) -> None:
    namespace, now = precheck_namespace, datetime.datetime.now(datetime.UTC)
    ca_certificate, ca_key = new_ca("aging", namespace, now)
    hosts = server_hostnames("aging", namespace)
    probe, _ = issue(ca_certificate, ca_key, hosts, SEEDED_LIFETIME, now)
    issued_at = now + DUE_IN - (renew_after(probe) - now)  # backdated so that two thirds of its life end at DUE_IN
    aged, aged_key = issue(ca_certificate, ca_key, hosts, SEEDED_LIFETIME, issued_at)
    kubectl.apply(left_behind("aging-ca", "Opaque", {"ca.crt": ca_certificate, "ca.key": ca_key}), "-n", namespace)
    tls = {"tls.crt": aged, "tls.key": aged_key, "ca.crt": ca_certificate}
    kubectl.apply(left_behind("aging-tls", "kubernetes.io/tls", tls), "-n", namespace)
    ca_secret = (kubectl.get("secret", "aging-ca", namespace) or {})["data"]

    kubectl.apply(database("aging", namespace))
    wait_ready(kubectl, "aging", namespace)
    seeded = x509.load_pem_x509_certificate(aged.encode())
    assert datetime.datetime.now(datetime.UTC) < renew_after(aged), "ready too late to see the watch renew"
    assert certificate_in(kubectl, namespace) == seeded  # adopted: not due yet, signed by the CA, every name

    wait_for(
        "the watch to renew the certificate",
        lambda: certificate_in(kubectl, namespace) != seeded,
        timeout=DUE_IN.total_seconds() + 90,
    )
    renewed = certificate_in(kubectl, namespace)
    assert (kubectl.get("secret", "aging-ca", namespace) or {})["data"] == ca_secret  # the CA, byte for byte
    renewed.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_certificate.encode()))
    assert public_key(renewed) != public_key(seeded)  # a new key
    annotations = (kubectl.get("database", "aging", namespace) or {})["metadata"].get("annotations", {})
    assert RENEW_ANNOTATION not in annotations  # nobody asked
    days = EnvironmentProfile.model_fields["server_certificate_days"].default  # no environment here sets it
    assert renewed.not_valid_after_utc - renewed.not_valid_before_utc == datetime.timedelta(days=days) + BACKDATE
    log = checking_operator.log_path.read_text(errors="replace")
    assert f"stack {namespace}.aging: new server certificate: two thirds of its life have passed" in log
