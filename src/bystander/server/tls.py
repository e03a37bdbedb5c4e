"""``serve --https``: browsers give a page the camera only over HTTPS (or on localhost), so a phone
on the same Wi-Fi needs TLS. The first run makes a self-signed certificate for this machine's names
and addresses and keeps it in the data folder; the phone's browser asks once to trust it."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from ..errors import BystanderError

VALID_DAYS = 825  # the longest validity Apple's browsers accept for a TLS server certificate


def _names(addresses: list[str]) -> tuple[list[str], list[str]]:
    dns = list(dict.fromkeys(["localhost", socket.gethostname()]))
    ips = list(dict.fromkeys(["127.0.0.1", "::1", *addresses]))
    return dns, ips


def _covers(cert_path: Path, ips: list[str]) -> bool:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    not_after = cert.not_valid_after_utc
    return set(ips) <= have and not_after > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)


def self_signed(folder: Path, addresses: list[str]) -> tuple[Path, Path]:
    """(certificate, key) in ``folder``: the kept ones while they cover ``addresses`` and are valid,
    else a new pair (the phone then asks to trust it again)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "tls-cert.pem", folder / "tls-key.pem"
    dns, ips = _names(addresses)
    if cert_path.exists() and key_path.exists() and _covers(cert_path, ips):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bystander on {dns[-1]}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([*(x509.DNSName(d) for d in dns),
                                                        *(x509.IPAddress(ipaddress.ip_address(i)) for i in ips)]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in ((key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())),
                       (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return cert_path, key_path


def context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise BystanderError(f"cannot use the certificate {cert} with the key {key}: "
                             f"{exc.strerror or exc.reason or exc}") from None
    return ctx
