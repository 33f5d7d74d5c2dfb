"""Pure: a SCRAM-SHA-256 password verifier, as PostgreSQL stores it (RFC 5802, RFC 7677).

Mooring sends PostgreSQL this verifier instead of the password (`ALTER ROLE ... PASSWORD
'SCRAM-SHA-256$...'`), so a password never travels in SQL text and never appears in the
server's statement log. The salt comes in as a value (the caller draws it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def scram_verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for an ASCII password.

    PostgreSQL applies SASLprep to passwords, which leaves printable ASCII unchanged; other
    passwords are refused here rather than hashed differently from the server.
    """
    if not password or not all(" " <= c <= "~" for c in password):
        raise ValueError("the password must be non-empty printable ASCII")
    if len(salt) < 16:
        raise ValueError("the salt must be at least 16 bytes")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
