"""A throwaway certificate authority and server certificates for loopback TLS servers."""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TestCA:
    __test__ = False  # a helper, not a test class

    """A CA whose PEM file is a ``ca_bundle``; ``server_context(name)`` serves as ``name``."""

    key: object
    cert: object
    bundle: Path

    @classmethod
    def create(cls, folder: Path) -> TestCA:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker test CA")])
        cert = (_builder(name, name, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        bundle = folder / "test-ca.pem"
        bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, bundle)

    def server_context(self, name: str, folder: Path) -> ssl.SSLContext:
        """A server-side context presenting a certificate for ``name`` signed by this CA."""
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        try:
            alt: Any = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            alt = x509.DNSName(name)
        cert = (_builder(subject, self.cert.subject, key.public_key())  # type: ignore[attr-defined]
                .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
                .sign(self.key, hashes.SHA256()))  # type: ignore[arg-type]
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


def _builder(subject, issuer, public_key):
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)))
