from __future__ import annotations

import pytest

from examples import demo


def test_the_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "-> '220 mail.test ESMTP ready\\r\\n'" in out
    assert "ok: smtplib delivered" in out
