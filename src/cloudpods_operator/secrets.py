"""The cluster's Secrets: generated once, created if missing, never rewritten, never logged.

- ``<cluster>-certs``: a self-signed CA and the service certificate every component mounts at
  /etc/yunion/pki (the reference's Secret of the same name and keys);
- ``<cluster>-etcd-server``, ``-etcd-client``, ``-etcd-peer``: etcd's TLS material (the reference
  uses unprefixed names, which two clusters in one namespace would share);
- ``<cluster>-credentials``: every DB and keystone password a component needs, one key each
  (``<component>.db-password``, ``<component>.keystone-password``, ``sysadmin-password``). The
  reference keeps these in a ConfigMap; here no ConfigMap, Event, status field or log line holds one.

Keys are ECDSA P-256: a fleet of a hundred clusters must not spend minutes generating RSA keys.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import secrets as random_source
import string
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudpods_operator import catalog, render
from cloudpods_operator.model import OnecloudCluster

ALPHABET = string.ascii_letters + string.digits


def secret_names(cluster_name: str) -> list[str]:
    return [
        f"{cluster_name}-{suffix}"
        for suffix in ("certs", "credentials", "etcd-server", "etcd-client", "etcd-peer")
    ]


def password() -> str:
    return "".join(random_source.choice(ALPHABET) for _ in range(16))


def credentials(cluster: OnecloudCluster) -> dict[str, str]:
    values: dict[str, str] = {}
    for comp in catalog.COMPONENTS:
        for key in render.credential_keys(comp):
            values[key] = password()
    values["sysadmin-password"] = cluster.spec.keystone.bootstrap_password or password()
    mysql = cluster.spec.mysql
    if mysql is not None and mysql.password:
        values["mysql-root-password"] = mysql.password
    return values


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


def _secret(
    cluster: OnecloudCluster, name: str, data: dict[str, bytes], type_: str = "Opaque"
) -> dict[str, Any]:
    ctx = render.Context(cluster, "ce")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": type_,
        "metadata": render.metadata(ctx, name, "cluster"),
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def generate(cluster: OnecloudCluster, missing: set[str]) -> list[dict[str, Any]]:
    """Bodies of the Secrets named in ``missing`` (a subset of :func:`secret_names`)."""
    name, namespace = cluster.metadata.name, cluster.metadata.namespace or "default"
    out: list[dict[str, Any]] = []
    if f"{name}-credentials" in missing:
        values = credentials(cluster)
        out.append(_secret(cluster, f"{name}-credentials", {k: v.encode() for k, v in values.items()}))
    ca_key = _key()
    ca = _sign("onecloud", ca_key, None, days=3650)
    ca_pem = _pem_cert(ca)
    server_auth = [ExtendedKeyUsageOID.SERVER_AUTH]
    if f"{name}-certs" in missing:
        svc_key = _key()
        sans = ["service", f"service.{namespace}", f"service.{namespace}.svc", "localhost", "127.0.0.1"]
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
        out.append(_secret(cluster, f"{name}-certs", pair))
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
        out.append(_secret(cluster, secret_name, data))
    return out
