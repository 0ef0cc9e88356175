"""Logging set-up. A filter on the handlers masks anything that looks like a secret (AMI
`Secret:` headers that a library might log on an error, password fields), whatever logger the
record comes from."""

from __future__ import annotations

import logging
import re
import sys

# No word boundary before the key: in a repr()'d AMI message it follows a literal "\\n".
_SECRET = re.compile(
    r"(?i)(secret|password|passwd|token|key)(\"?\s*[:=]\s*\"?)([^\s\"',&\\]+)"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # alembic announces its plugins and dialect at INFO; the commands say what they did.
    logging.getLogger("alembic").setLevel(logging.WARNING)
