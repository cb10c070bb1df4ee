"""Certificates for the cloud stand-ins: one throwaway CA, a leaf per server name.

The phone trusts the CA, so its TLS connections verify like a real app's; the stand-in
signs a certificate for whatever name a ClientHello asks for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(_name("hil netns cloud stand-in CA"))
            .issuer_name(_name("hil netns cloud stand-in CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(_pem_key(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class LeafMaker:
    """Signs leaf certificates for server names with the CA (one key for all of them)."""

    def __init__(self, ca_cert: Path, ca_key: Path):
        self.ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
        self.ca_key = serialization.load_pem_private_key(ca_key.read_bytes(), None)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_pem = _pem_key(self.key)

    def chain_pem(self, server_name: str) -> bytes:
        """Key, leaf and CA certificate, PEM, as `SSLContext.load_cert_chain` reads them."""
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(server_name))
                .issuer_name(self.ca.subject)
                .public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.ca_key, hashes.SHA256()))
        return (self.key_pem + cert.public_bytes(serialization.Encoding.PEM)
                + self.ca.public_bytes(serialization.Encoding.PEM))
