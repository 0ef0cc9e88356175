"""Secrets never reach the log, whichever library logs them."""

import io
import logging

from hotline.logs import RedactSecrets, redact


def test_ami_secret_in_a_logged_action_is_masked():
    # What panoramisk logs when a write fails: the whole action, Login included.
    action = "Action: Login\r\nActionID: x/1\r\nUsername: hotline\r\nSecret: hotline-secret\r\n"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("panoramisk.ami_protocol")
    logger.addHandler(handler)
    try:
        logger.error("Fail to send %r", action)
        try:
            raise ConnectionError(f"lost while sending {action}")
        except ConnectionError:
            logger.exception("send failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "hotline-secret" not in text
    assert "Username: hotline" in text and "Secret: ***" in text


def test_redact_keeps_ordinary_text():
    assert redact("password=abc123&next=/admin") == "password=***&next=/admin"
    assert redact('{"secret": "s3cr3t"}') == '{"secret": "***"}'
    assert redact("工单 5301-20261125-0001 已受理") == "工单 5301-20261125-0001 已受理"
