"""The whole-suite secret scan (tests/secret_scan.py) finds a leaked secret, and says where
without repeating it. Everything here stays out of the suite's own capture."""

from __future__ import annotations

import logging

from authward.tokens import opaque
from tests.secret_scan import CapturingHandler, SecretScan, report


def test_a_logged_secret_is_reported_by_kind_and_logger_without_the_secret() -> None:
    scan = SecretScan()
    logger = logging.getLogger("secret-scan-self-test")
    # Not propagated: the leak below must not reach the root logger the suite's scan watches.
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = CapturingHandler(scan)
    logger.addHandler(handler)
    try:
        # opaque.generate is the instrumented one: the global scan records the code too.
        code = opaque.generate("awcode_")
        scan.secret(code, "authorization code")
        scan.secret("awrt_" + "x" * 40, "refresh token")
        scan.secret("short-secret", "password")
        logger.debug("redeeming %s", code)
        logger.info("the password was short-secret")
        try:
            raise ValueError(code[::-1] + " and " + code)
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    leaks = scan.leaks()
    assert [str(leak) for leak in leaks] == [
        "authorization code found in a log record of logger 'secret-scan-self-test'"
    ]
    assert all(code not in line for line in report(leaks))


def test_clean_logs_report_nothing() -> None:
    scan = SecretScan()
    scan.secret(opaque.generate("ak_"), "API key")
    scan.text("logger 'x'", "issued an API key ending in ...abcd, id 1234567890abcdef")
    assert scan.leaks() == []
