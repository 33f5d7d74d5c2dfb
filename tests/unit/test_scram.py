"""SCRAM-SHA-256 verifiers as PostgreSQL stores them."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from mooring.core.scram import scram_verifier


def test_a_verifier_has_postgresqls_format_and_proves_the_password() -> None:
    salt = bytes(range(16))
    verifier = scram_verifier("pencil", salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt_b64 = iterations_salt.split(":")
    stored_b64, server_b64 = keys.split(":")
    assert method == "SCRAM-SHA-256" and iterations == "4096"
    assert base64.b64decode(salt_b64) == salt
    # RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")).
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(stored_b64) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server_b64) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def test_the_same_password_and_salt_give_the_same_verifier() -> None:
    assert scram_verifier("x" * 43, b"s" * 16) == scram_verifier("x" * 43, b"s" * 16)
    assert scram_verifier("x" * 43, b"s" * 16) != scram_verifier("x" * 43, b"t" * 16)


@pytest.mark.parametrize(
    ("password", "salt"),
    [
        pytest.param("", b"s" * 16, id="refuses an empty password"),
        pytest.param("mot de passe é", b"s" * 16, id="refuses non-ASCII (SASLprep would differ)"),
        pytest.param("pw", b"short", id="refuses a short salt"),
    ],
)
def test_refuses_what_it_cannot_hash_like_the_server(password: str, salt: bytes) -> None:
    with pytest.raises(ValueError):
        scram_verifier(password, salt)
