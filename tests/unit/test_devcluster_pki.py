"""The local control plane's certificates: who a minted client certificate says it is."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mooring.devcluster import pki


def test_a_client_certificate_names_the_user_in_cn_and_the_groups_in_o() -> None:
    ca = pki.make_ca()
    pair = pki.make_client(ca, "alice", ("team-a", "developers"))
    cert = x509.load_pem_x509_certificate(pair.cert)
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "team-a",
        "developers",
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_client_certificate_is_signed_by_the_ca() -> None:
    ca = pki.make_ca()
    cert = x509.load_pem_x509_certificate(pki.make_client(ca, "bob").cert)
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    cert.verify_directly_issued_by(ca_cert)


def test_the_serving_certificate_covers_loopback_and_the_kubernetes_service_names() -> None:
    cert = x509.load_pem_x509_certificate(pki.make_serving(pki.make_ca()).cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.96.0.1",
    ]


def test_a_client_certificate_needs_a_user() -> None:
    try:
        pki.make_client(pki.make_ca(), "")
    except ValueError as error:
        assert "user name" in str(error)
    else:
        raise AssertionError("an empty user name was accepted")
