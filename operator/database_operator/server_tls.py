"""Each Database's TLS material: its own certificate authority and the server certificate it signs, kept in the
stack's settings file like the passwords (keys encrypted, certificates plain: they are public).

One CA per Database, not per namespace: a leaked CA key can sign for that one Database only, and the CA lives and
dies (or is retained) with the Database's other Secrets. An application that talks to several Databases mounts
each one's `<name>-ca` ConfigMap.

The CA is never lost or silently replaced: a settings file without it adopts the live `<name>-ca` Secret, else the
stack's secret outputs; only when no copy exists anywhere is a new CA made (a Database made before TLS existed, or
one whose Secret was deleted by hand: its clients must fetch the new ca.crt). The server certificate is renewed,
same CA and new key, once two thirds of its life have passed, when it does not name every host a client or replica
may use, or when asked (the renewal annotation: its value is recorded, so a retry never renews twice).
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from database_api.names import CONFIG_NAMESPACE, ca_name, tls_secret_name
from database_operator.passphrase import Passphrase
from database_operator.x509_issuer import general_name, issue_server, new_authority

CA_VALIDITY = datetime.timedelta(days=3650)
RENEW_AT = 2 / 3
"""The share of a server certificate's life after which it is renewed."""
MAX_REPLICAS = 10
"""Every pod name up to the largest replica count a spec may ask for is in the certificate: scaling up needs no
new certificate."""

CA_CERTIFICATE, CA_KEY, CERTIFICATE, KEY = "tlsCaCertificate", "tlsCaKey", "tlsCertificate", "tlsKey"
TLS_KEYS = (CA_CERTIFICATE, CA_KEY, CERTIFICATE, KEY)
"""The stack configuration keys of the TLS material (the keys encrypted), also its secret stack outputs."""
SECRET_KEYS = frozenset({CA_KEY, KEY})
RENEWAL = "tlsRenewal"
"""Plain configuration: the last renewal annotation value honoured."""
RENEW_ANNOTATION = "database.example.com/renew-certificate"
"""On a Database: set to a new value (e.g. the time) to have its server certificate renewed now."""
RENEW_AFTER = "tlsRenewAfter"
"""Plain configuration: when the server certificate is due for renewal (ISO 8601), for the periodic check."""

SECRET_OF_TLS = {
    CA_CERTIFICATE: (ca_name, "ca.crt"),
    CA_KEY: (ca_name, "ca.key"),
    CERTIFICATE: (tls_secret_name, "tls.crt"),
    KEY: (tls_secret_name, "tls.key"),
}
"""Where each piece lives in the cluster: (Secret name of a Database, key)."""


def server_hostnames(name: str, namespace: str) -> list[str]:
    """Every name a client, replica or the pod itself reaches the server by: the read-write and read-only Services
    and each pod through the headless Service, short and fully qualified, and the loopback address (the exporter
    and the backup script's local checks)."""
    hosts = [name, f"{name}-ro", *(f"{name}-{index}.{name}-headless" for index in range(MAX_REPLICAS))]
    qualified = [f"{host}.{namespace}{suffix}" for host in hosts for suffix in ("", ".svc", ".svc.cluster.local")]
    return [*hosts, *qualified, "localhost", "127.0.0.1"]


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(encoding, private, serialization.NoEncryption()).decode()


def _load_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    return key


def new_ca(name: str, namespace: str, now: datetime.datetime) -> tuple[str, str]:
    """A new CA for one Database: (certificate PEM, key PEM)."""
    certificate, key = new_authority(f"{namespace}/{name} database CA", now, CA_VALIDITY)
    return _pem(certificate), _key_pem(key)


def issue(
    ca_certificate: str, ca_key: str, hosts: list[str], lifetime: datetime.timedelta, now: datetime.datetime
) -> tuple[str, str]:
    """A server certificate for `hosts`, signed by the CA: (certificate PEM, key PEM)."""
    ca = x509.load_pem_x509_certificate(ca_certificate.encode())
    certificate, key = issue_server(ca, _load_key(ca_key), hosts, now, lifetime)
    return _pem(certificate), _key_pem(key)


def renew_after(certificate: str) -> datetime.datetime:
    """When a server certificate is due for renewal: two thirds into its life."""
    parsed = x509.load_pem_x509_certificate(certificate.encode())
    life = parsed.not_valid_after_utc - parsed.not_valid_before_utc
    return parsed.not_valid_before_utc + life * RENEW_AT


def renewal_reason(certificate: str, ca_certificate: str, hosts: list[str], now: datetime.datetime) -> str | None:
    """Why the server certificate must be renewed now, or None while it is good."""
    parsed = x509.load_pem_x509_certificate(certificate.encode())
    ca = x509.load_pem_x509_certificate(ca_certificate.encode())
    if now >= renew_after(certificate):
        return f"two thirds of its life have passed (it expires {parsed.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
    try:
        parsed.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "it is not signed by the Database's CA"
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    missing = {str(general_name(host).value) for host in hosts} - {str(name.value) for name in names}
    return f"it does not name {', '.join(sorted(missing))}" if missing else None


@dataclass(frozen=True)
class TlsRequest:
    """What the TLS material of one stack is made for."""

    name: str
    namespace: str
    lifetime: datetime.timedelta
    renewal: str | None = None
    """The renewal annotation's value: a value not yet honoured renews the server certificate now."""


def _config_key(key: str) -> str:
    return f"{CONFIG_NAMESPACE}:{key}"


class TlsStore:
    """Puts the TLS material into a settings document: adopted, kept, made once, renewed when due."""

    def __init__(self, passphrase: Passphrase) -> None:
        self._passphrase = passphrase

    def _read(self, document: dict[str, Any], key: str) -> str | None:
        value = document["config"].get(_config_key(key))
        if isinstance(value, dict):
            return self._passphrase.decrypt(document["encryptionsalt"], value["secure"])
        return value if isinstance(value, str) else None

    def _write(self, document: dict[str, Any], key: str, value: str) -> None:
        if key in SECRET_KEYS:
            document["config"][_config_key(key)] = {
                "secure": self._passphrase.encrypt(document["encryptionsalt"], value)
            }
        else:
            document["config"][_config_key(key)] = value

    def fill(
        self,
        document: dict[str, Any],
        request: TlsRequest,
        adoptable: Mapping[str, str],
        now: datetime.datetime,
    ) -> str | None:
        """Complete and renew the document's TLS material; return why the server certificate was (re)issued, or
        None if it was kept. `adoptable`: the material found in the live Secrets or the stack's outputs (by
        TLS_KEYS), used only for what the settings lack."""
        material = {key: self._read(document, key) for key in TLS_KEYS}
        if not (material[CA_CERTIFICATE] and material[CA_KEY]):
            if adoptable.get(CA_CERTIFICATE) and adoptable.get(CA_KEY):
                material[CA_CERTIFICATE], material[CA_KEY] = adoptable[CA_CERTIFICATE], adoptable[CA_KEY]
            else:
                material[CA_CERTIFICATE], material[CA_KEY] = new_ca(request.name, request.namespace, now)
            material[CERTIFICATE] = material[KEY] = None
        if not (material[CERTIFICATE] and material[KEY]) and adoptable.get(CERTIFICATE) and adoptable.get(KEY):
            material[CERTIFICATE], material[KEY] = adoptable[CERTIFICATE], adoptable[KEY]
        ca_certificate, ca_key = str(material[CA_CERTIFICATE]), str(material[CA_KEY])
        hosts = server_hostnames(request.name, request.namespace)
        renewal_asked = bool(request.renewal) and request.renewal != self._read(document, RENEWAL)
        reason: str | None
        if not (material[CERTIFICATE] and material[KEY]):
            reason = "the Database has no server certificate yet"
        elif renewal_asked:
            reason = f"renewal was asked for ({request.renewal})"
        else:
            reason = renewal_reason(str(material[CERTIFICATE]), ca_certificate, hosts, now)
        if reason is not None:
            material[CERTIFICATE], material[KEY] = issue(ca_certificate, ca_key, hosts, request.lifetime, now)
        for key, value in material.items():
            if value != self._read(document, key):
                self._write(document, key, str(value))
        if request.renewal:
            document["config"][_config_key(RENEWAL)] = request.renewal
        document["config"][_config_key(RENEW_AFTER)] = renew_after(str(material[CERTIFICATE])).isoformat()
        return reason
