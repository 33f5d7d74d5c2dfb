"""Pure: the names a Database gets on a shared PostgreSQL server.

PostgreSQL keeps identifiers to 63 bytes (NAMEDATALEN - 1) and would silently truncate a
longer one, so two long names could become the same role. Every name here is built to fit
and to stay distinct:

- the base is `<namespace>_<name>`; both are DNS labels, which never contain '_', so the
  base names one Database exactly, and a base never equals another Database's base;
- the owner role and the database are named by the base; the two login roles (used in
  turn by password rotation) by `<base>_1` and `<base>_2` (two '_', so never a base);
- a name over 63 bytes keeps a readable prefix and ends with '__' and a hash of the whole
  name. No unshortened name contains '__', so a shortened name never equals one.

Identifiers reach SQL only through psycopg's sql.Identifier, which quotes them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

MAX_IDENTIFIER_BYTES = 63
HASH_CHARS = 12  # 60 bits of SHA-256 in lower-case base32
MARK = "__"
LOGIN_SLOTS = ("1", "2")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def shorten(text: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """`text` itself when it fits in `limit` UTF-8 bytes, else a prefix + '__' + hash.

    Deterministic; the result always fits; distinct texts give distinct results (up to a
    60-bit hash collision) as long as no text contains '__'. Cuts only between characters.
    """
    if "\x00" in text:
        raise ValueError("a PostgreSQL identifier cannot contain a NUL character")
    if limit < len(MARK) + HASH_CHARS + 1:
        raise ValueError(f"limit {limit} leaves no room for a readable prefix")
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    digest = base64.b32encode(hashlib.sha256(encoded).digest()).decode().lower()
    room = limit - len(MARK) - HASH_CHARS
    prefix = encoded[:room].decode(errors="ignore")  # drops a character cut in half
    return f"{prefix}{MARK}{digest[:HASH_CHARS]}"


@dataclass(frozen=True)
class DatabaseNames:
    """What one Database is called on the server."""

    database: str
    owner: str  # NOLOGIN; owns the database and everything in it
    logins: tuple[str, str]  # LOGIN roles, members of owner; the Secret names one of them

    def login(self, slot: int) -> str:
        return self.logins[slot]

    def slot_of(self, username: str | None) -> int | None:
        """Which login slot a username is, if any."""
        return self.logins.index(username) if username in self.logins else None

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.owner, *self.logins)


def database_names(namespace: str, name: str) -> DatabaseNames:
    """Names of the Database `name` in `namespace`. Both must be DNS labels."""
    for what, value in (("namespace", namespace), ("name", name)):
        if not _DNS_LABEL.fullmatch(value) or len(value) > 63:
            raise ValueError(
                f"{what} {value!r} is not a DNS label (lower-case letters, digits and '-', "
                "at most 63 characters)"
            )
    base = f"{namespace}_{name}"
    owner = shorten(base)
    logins = (shorten(f"{base}_{LOGIN_SLOTS[0]}"), shorten(f"{base}_{LOGIN_SLOTS[1]}"))
    return DatabaseNames(database=owner, owner=owner, logins=logins)
