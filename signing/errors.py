"""What can go wrong in the engine, as distinct exceptions.

The DST layer maps them to the contract's reasons: an encrypted document is
PROTECTED_DOCUMENT, an unreadable or oversized one INVALID_DOCUMENT, a bad
placement a 400 naming the field.
"""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


class EngineError(Exception):
    """Base of every error the signing engine raises on purpose."""


class DocumentError(EngineError):
    """The document itself cannot be signed."""


class EncryptedDocument(DocumentError):
    """The PDF is encrypted: it cannot be read, let alone signed, without its password."""


class UnreadableDocument(DocumentError):
    """Not a PDF, or a PDF too damaged to parse."""


class DocumentTooLarge(DocumentError):
    def __init__(self, size: int, limit: int = DEFAULT_MAX_BYTES):
        super().__init__(f"the document is {size} bytes, over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class PlacementError(EngineError):
    """A `where` that cannot be honoured. `field` is the path of the offending
    entry inside `where` (e.g. "position", "page"), for the API's error body."""

    def __init__(self, message: str, field: str = "position"):
        super().__init__(message)
        self.message = message
        self.field = field


class SignatureFailed(EngineError):
    """Signing did not complete (TSA unreachable or refusing, pyHanko error).
    Nothing was produced: the caller keeps the previous revision."""
