"""The cluster's TLS material: generated once, created if missing, never rewritten, never logged.

- ``<cluster>-certs``: a self-signed CA and the service certificate every component mounts at
  /etc/yunion/pki (the reference's Secret of the same name and keys);
- ``<cluster>-etcd-server``, ``-etcd-client``, ``-etcd-peer``: etcd's TLS material (the reference
  uses unprefixed names, which two clusters in one namespace would share).

Keys are ECDSA P-256: a fleet of a hundred clusters must not spend minutes generating RSA keys.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
from collections.abc import Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudpods_operator import render
from cloudpods_operator.kinds import JSON
from cloudpods_operator.model import OnecloudCluster

ETCD_ROLES = ("server", "client", "peer")


def secret_names(cluster_name: str) -> list[str]:
    """Every TLS Secret of a cluster."""
    return [f"{cluster_name}-certs", *(f"{cluster_name}-etcd-{role}" for role in ETCD_ROLES)]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _sign(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    days: int,
    sans: list[str] = (),  # type: ignore[assignment]
    usages: list[x509.ObjectIdentifier] = (),  # type: ignore[assignment]
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if sans:
        entries: list[x509.GeneralName] = []
        for san in sans:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                entries.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def generate(cluster: OnecloudCluster, missing: set[str]) -> list[JSON]:
    """Bodies of the Secrets named in ``missing`` (a subset of :func:`secret_names`), one CA for all."""
    name, namespace = cluster.metadata.name, cluster.metadata.namespace or "default"
    out: list[JSON] = []
    ca_key = _key()
    ca = _sign("onecloud", ca_key, None, days=3650)
    ca_pem = _pem_cert(ca)
    server_auth = [ExtendedKeyUsageOID.SERVER_AUTH]
    if f"{name}-certs" in missing:
        svc_key = _key()
        sans = ["service", f"service.{namespace}", f"service.{namespace}.svc", "localhost", "127.0.0.1"]
        # The operator verifies keystone at <cluster>-keystone.<namespace>.svc against this CA.
        keystone = f"{name}-keystone"
        sans += [keystone, f"{keystone}.{namespace}", f"{keystone}.{namespace}.svc"]
        sans += [cluster.spec.load_balancer_endpoint] if cluster.spec.load_balancer_endpoint else []
        sans += cluster.spec.cert_sans or []
        svc = _sign("service", svc_key, (ca, ca_key), days=800, sans=sans, usages=server_auth)
        pair = {
            "ca.crt": ca_pem,
            "ca.key": _pem_key(ca_key),
            "service.crt": _pem_cert(svc),
            "service.key": _pem_key(svc_key),
        }
        pair |= {"tls.crt": pair["service.crt"], "tls.key": pair["service.key"]}
        out.append(render.render_secret(cluster, f"{name}-certs", pair))
    etcd_sans = [
        f"*.{name}-etcd.{namespace}.svc",
        f"{name}-etcd-client.{namespace}.svc",
        "localhost",
        "127.0.0.1",
        "::1",
    ]
    for role, prefix, usages in (
        ("server", "server", server_auth),
        ("client", "etcd-client", [ExtendedKeyUsageOID.CLIENT_AUTH]),
        ("peer", "peer", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
    ):
        secret_name = f"{name}-etcd-{role}"
        if secret_name not in missing:
            continue
        key = _key()
        cert = _sign(f"etcd-{role}", key, (ca, ca_key), days=3650, sans=etcd_sans, usages=usages)
        data = {f"{prefix}-ca.crt": ca_pem, f"{prefix}.crt": _pem_cert(cert), f"{prefix}.key": _pem_key(key)}
        out.append(render.render_secret(cluster, secret_name, data))
    return out


def decoded(data: Mapping[str, str], key: str) -> bytes | None:
    """One PEM of a Secret's ``data`` (base64), or None when absent or not base64."""
    try:
        return base64.b64decode(data[key], validate=True)
    except (KeyError, binascii.Error, TypeError):
        return None


def dns_names(pem: bytes) -> set[str]:
    """The DNS names and IP addresses a certificate is valid for (empty when it does not parse)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return set()
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return set(sans.get_values_for_type(x509.DNSName)) | ips
