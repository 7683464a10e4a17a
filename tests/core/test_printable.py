"""The one sanitiser for text shown to a person, and JSON that keeps control characters escaped."""

from __future__ import annotations

import json
import logging

from bot.core.printable import PrintableLogs, json_bytes, json_text, printable


def test_every_control_character_but_newline_becomes_one_visible_character() -> None:
    text = "a\x1b[2Jb\x1b]0;title\x07c\rd\te\x7ff\x9bg\nh"
    shown = printable(text)
    assert shown == "a␛[2Jb␛]0;title␇c␍d e␡f\ufffdg\nh"
    assert len(shown) == len(text)  # spans into the text stay valid
    assert printable(shown) == shown and printable("Tokyo’s 外務省") == "Tokyo’s 外務省"


def test_json_escapes_c0_del_and_c1_and_reads_back_the_same() -> None:
    value = {"text": "x\x1b[2J\x07\x7f\x9b\u2028é"}
    out = json_text(value)
    assert not any(c in out for c in "\x1b\x07\x7f\x9b")
    assert "é" in out and json.loads(out) == value


def test_the_servers_encoder_escapes_alike_in_utf8_and_leaves_other_characters_alone() -> None:
    del_and_c1 = "".join(map(chr, range(0x7F, 0xA0)))
    for text in (del_and_c1, f"£5\u00a0«{del_and_c1}»\u00a0\u0100", "£5\u00a0«Tokyo’s»", "plain"):
        value = {"text": text, "n": [1, 2.5]}
        body = json_bytes(value)
        assert body.decode("utf-8") == json_text(value)
        assert b"\x7f" not in body and not any(bytes([0xC2, b]) in body for b in range(0x80, 0xA0))
        assert json.loads(body) == value
    assert json_bytes({"t": "£\u00a0é"}) == '{"t": "£\u00a0é"}'.encode()  # kept readable
    assert json_text("\x85", indent=1) == '"\\u0085"' and json_text("\udcff") == '"\udcff"'


def test_log_lines_are_made_printable_before_formatting() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "asked %s", ("a\x1b]0;x\x07",), None)
    assert PrintableLogs().filter(record)
    assert logging.Formatter("%(message)s").format(record) == "asked a␛]0;x␇"
