"""Each Database's CA and server certificate: the names in the certificate and when it is renewed (how the stack keeps
them: test_stacks.py)."""

import datetime

from cryptography import x509

from database_operator.server_tls import (
    CA_CERTIFICATE,
    CA_KEY,
    CERTIFICATE,
    KEY,
    issue,
    new_ca,
    renew_after,
    renewal_reason,
    server_hostnames,
)

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def tls_material(issued: datetime.datetime = NOW, lifetime: datetime.timedelta = 90 * DAY) -> dict[str, str]:
    """A Database's TLS material as the operator keeps it (keys of server_tls.TLS_KEYS)."""
    ca_certificate, ca_key = new_ca("orders", "shop", issued)
    certificate, key = issue(ca_certificate, ca_key, server_hostnames("orders", "shop"), lifetime, issued)
    return {CA_CERTIFICATE: ca_certificate, CA_KEY: ca_key, CERTIFICATE: certificate, KEY: key}


def names_in(certificate: str) -> set[str]:
    parsed = x509.load_pem_x509_certificate(certificate.encode())
    return {str(name.value) for name in parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


def test_the_certificate_names_every_host_a_client_or_replica_may_use() -> None:
    material = tls_material()
    names = names_in(material[CERTIFICATE])
    for host in ("orders", "orders-ro", "orders-0.orders-headless", "orders-9.orders-headless"):
        assert {host, f"{host}.shop", f"{host}.shop.svc", f"{host}.shop.svc.cluster.local"} <= names
    assert {"localhost", "127.0.0.1"} <= names  # the exporter, in the pod
    ca = x509.load_pem_x509_certificate(material[CA_CERTIFICATE].encode())
    x509.load_pem_x509_certificate(material[CERTIFICATE].encode()).verify_directly_issued_by(ca)


def test_a_certificate_is_renewed_two_thirds_into_its_life_or_when_it_does_not_fit() -> None:
    material = tls_material(lifetime=90 * DAY)
    hosts = server_hostnames("orders", "shop")
    assert NOW + 59 * DAY < renew_after(material[CERTIFICATE]) < NOW + 61 * DAY
    assert renewal_reason(material[CERTIFICATE], material[CA_CERTIFICATE], hosts, NOW + 59 * DAY) is None
    assert "two thirds" in str(renewal_reason(material[CERTIFICATE], material[CA_CERTIFICATE], hosts, NOW + 60 * DAY))
    other_ca = tls_material()[CA_CERTIFICATE]
    assert renewal_reason(material[CERTIFICATE], other_ca, hosts, NOW) == "it is not signed by the Database's CA"
    renamed = server_hostnames("billing", "shop")
    assert "billing" in str(renewal_reason(material[CERTIFICATE], material[CA_CERTIFICATE], renamed, NOW))
