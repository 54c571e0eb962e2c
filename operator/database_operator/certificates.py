"""TLS for the admission webhooks: a private CA and a serving certificate the operator makes and renews itself,
or files mounted from a Secret (tls.crt, tls.key, ca.crt)."""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class ServingCertificate:
    certfile: Path
    keyfile: Path
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _san(hostname: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname)


def _still_good(certfile: Path, hostnames: list[str], now: datetime.datetime) -> bool:
    if not certfile.exists():
        return False
    certificate = x509.load_pem_x509_certificate(certfile.read_bytes())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(name.value) for name in sans}
    return certificate.not_valid_after_utc - now > RENEW_BEFORE and set(hostnames) <= names


def ensure_certificate(directory: Path, hostnames: list[str]) -> ServingCertificate:
    """Use the certificate in `directory` if it covers `hostnames` for another 30 days; else make a new CA and
    serving certificate there. A directory holding only a mounted tls.crt/tls.key/ca.crt is used as it is."""
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile, cafile = directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
    now = datetime.datetime.now(datetime.UTC)
    if _still_good(certfile, hostnames, now) and cafile.exists():
        return ServingCertificate(certfile, keyfile, cafile.read_bytes())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("database-operator webhook CA"))
        .issuer_name(_name("database-operator webhook CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    serving = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_san(name) for name in hostnames]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    keyfile.chmod(0o600)
    certfile.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    cafile.write_bytes(ca_pem)
    return ServingCertificate(certfile, keyfile, ca_pem)
