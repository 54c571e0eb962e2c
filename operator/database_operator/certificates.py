"""TLS for the admission webhooks: a private CA and a serving certificate the operator makes and renews itself,
or files mounted from a Secret (tls.crt, tls.key, ca.crt). Files are replaced atomically: a crash mid-renewal
never leaves a torn certificate or key."""

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from database_operator.atomic_file import write_atomically
from database_operator.x509_issuer import issue_server, new_authority

CA_VALIDITY = datetime.timedelta(days=3650)
VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class ServingCertificate:
    certfile: Path
    keyfile: Path
    ca_pem: bytes


def _fresh(certfile: Path, now: datetime.datetime, hostnames: list[str] | None = None) -> bool:
    """The certificate exists, has more than RENEW_BEFORE to live, and (if given) covers every hostname."""
    if not certfile.exists():
        return False
    certificate = x509.load_pem_x509_certificate(certfile.read_bytes())
    if certificate.not_valid_after_utc - now <= RENEW_BEFORE:
        return False
    if hostnames is None:
        return True
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(hostnames) <= {str(name.value) for name in sans}


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_atomically(path, pem, mode=0o600)


def _certificate_authority(
    directory: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The operator's own CA: kept for ten years, so renewing the serving certificate leaves caBundle alone."""
    cafile, cakey = directory / "ca.crt", directory / "ca.key"
    if _fresh(cafile, now) and cakey.exists():
        key = serialization.load_pem_private_key(cakey.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cafile.read_bytes()), key
    ca, key = new_authority("database-operator webhook CA", now, CA_VALIDITY)
    _write_key(cakey, key)
    write_atomically(cafile, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return ca, key


def ensure_certificate(directory: Path, hostnames: list[str]) -> ServingCertificate:
    """A serving certificate for `hostnames` with at least 30 days to live, signed by the operator's CA; renewed
    (same CA) when it is older or names something else. A mounted Secret's tls.crt/tls.key/ca.crt without a
    ca.key is used as it is: whoever issued it renews it."""
    certfile, keyfile, cafile = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
    if certfile.exists() and cafile.exists() and not (directory / "ca.key").exists():
        return ServingCertificate(certfile, keyfile, cafile.read_bytes())
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca, ca_key = _certificate_authority(directory, now)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    if _fresh(certfile, now, hostnames) and certfile.exists():
        issuer = x509.load_pem_x509_certificate(certfile.read_bytes()).issuer
        if issuer == ca.subject and cafile.read_bytes() == ca_pem:
            return ServingCertificate(certfile, keyfile, ca_pem)
    serving, key = issue_server(ca, ca_key, hostnames, now, VALIDITY)
    # Key first, then certificate: the server reloads when the certificate changes, and finds the new key then.
    _write_key(keyfile, key)
    write_atomically(certfile, serving.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return ServingCertificate(certfile, keyfile, ca_pem)
