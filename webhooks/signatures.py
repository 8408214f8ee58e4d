"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

`webhook-signature` is `v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`,
keyed with the bytes of the robot's secret: the base64 after `whsec_`.
"""

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    # Tolerate a secret stored without its base64 padding.
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(*, secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    message = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body
        ),
    }
