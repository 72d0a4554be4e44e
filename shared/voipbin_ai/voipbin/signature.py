"""X-VoIPBIN-Signature: HMAC-SHA256 of the raw body with the customer's webhook secret (CONTRACT.md §1.3).

Pure functions, shared by the ingress (verify) and the VoIPBin simulator (sign).
"""

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-VoIPBIN-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value VoIPBin sends for this body: 'sha256=<lowercase hex>'."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header_value: str | None) -> bool:
    """True when header_value is the signature of exactly these body bytes (constant-time compare)."""
    if not header_value:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header_value.strip().encode())


def find_header(headers: Mapping[str, str] | None, name: str = SIGNATURE_HEADER) -> str | None:
    """A header's value, whatever case the sender or API Gateway gave its name."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == wanted:
            return value
    return None
