"""The cluster's PKI, made with `cryptography`: a CA, the apiserver's serving cert, client certs and the
service-account key pair. Everything is written as PEM files into the run directory's pki/ folder."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_IP = "10.0.0.1"
APISERVER_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

# name -> (common name, organizations)
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("localcluster-admin", ("system:masters",)),
    # With --use-service-account-credentials=false every controller acts as this identity, which therefore
    # needs full rights, as in kwokctl.
    "controller-manager": ("system:kube-controller-manager", ("system:masters",)),
    # The scheduler keeps its real, least-privileged identity (bootstrap RBAC binds it).
    "scheduler": ("system:kube-scheduler", ()),
    "kwok": ("kwok-controller", ("system:masters",)),
}


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca: CertPaths
    apiserver: CertPaths
    sa_public: Path
    sa_private: Path
    clients: dict[str, CertPaths]


_ECKey = ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ec_key() -> _ECKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: _ECKey | rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _issue(
    ca_key: _ECKey,
    ca_cert: x509.Certificate,
    key: _ECKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def generate(directory: Path) -> Pki:
    """Create every key and certificate the cluster needs under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = _now()

    ca_key = _ec_key()
    ca_name = _name("localcluster-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca = CertPaths(directory / "ca.crt", directory / "ca.key")
    _write_cert(ca.cert, ca_cert)
    _write_key(ca.key, ca_key)

    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in APISERVER_DNS]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", SERVICE_IP)]
    server_key = _ec_key()
    server_cert = _issue(
        ca_key, ca_cert, server_key, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans
    )
    apiserver = CertPaths(directory / "apiserver.crt", directory / "apiserver.key")
    _write_cert(apiserver.cert, server_cert)
    _write_key(apiserver.key, server_key)

    clients: dict[str, CertPaths] = {}
    for name, (cn, orgs) in CLIENTS.items():
        key = _ec_key()
        cert = _issue(ca_key, ca_cert, key, _name(cn, orgs), ExtendedKeyUsageOID.CLIENT_AUTH)
        paths = CertPaths(directory / f"{name}.crt", directory / f"{name}.key")
        _write_cert(paths.cert, cert)
        _write_key(paths.key, key)
        clients[name] = paths

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_private = directory / "sa.key"
    sa_public = directory / "sa.pub"
    _write_key(sa_private, sa_key)
    sa_public.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(directory, ca, apiserver, sa_public, sa_private, clients)


def load(directory: Path) -> Pki:
    """The paths of a PKI made by `generate` (no file is read)."""
    return Pki(
        directory,
        CertPaths(directory / "ca.crt", directory / "ca.key"),
        CertPaths(directory / "apiserver.crt", directory / "apiserver.key"),
        directory / "sa.pub",
        directory / "sa.key",
        {name: CertPaths(directory / f"{name}.crt", directory / f"{name}.key") for name in CLIENTS},
    )
