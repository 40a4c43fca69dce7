"""Cursors: the encoded form, parsing (anything malformed refused), tags, ordering, and the
`cursor` field of events (left out of the JSON when unset)."""

import json

import pytest
from switchboard_protocol import Cursor, cursor_tag, make_event, new_id, parse_cursor
from switchboard_protocol.frames import AuthFrame


def test_encode_and_parse_round_trip() -> None:
    cursor = Cursor(shard=3, offset=1_234_567, index=12, tag="ABCDEFGH")
    assert cursor.encode() == "3.1234567.12.ABCDEFGH"
    assert parse_cursor(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3.1.2",
        "3.1.2.ABC.D",
        "a.1.2.ABC",
        "-1.1.2.ABC",
        "3.1.2.AB-C",
        "12345.1.2.ABC",
        "1." + "9" * 20 + ".0.ABC",
        "1.1.1234567.ABC",
        "1.1.1." + "A" * 17,
        " 1.1.1.A",
        "1.1.1.A\n",
    ],
)
def test_malformed_cursors_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cursor(text)


def test_tag_is_the_event_ids_last_eight_characters() -> None:
    event_id = new_id()
    assert cursor_tag(event_id) == event_id[-8:]
    assert parse_cursor(Cursor(0, 0, 0, cursor_tag(event_id)).encode()).tag == event_id[-8:]


def test_after_orders_by_offset_then_index() -> None:
    cursor = Cursor(0, 10, 2, "T")
    assert cursor.after(11, 0)
    assert cursor.after(10, 3)
    assert not cursor.after(10, 2)
    assert not cursor.after(10, 1)
    assert not cursor.after(9, 99)


def test_event_cursor_left_out_unless_set() -> None:
    event = make_event("token", {"token": "x"}, session_id="s1")
    assert "cursor" not in json.loads(event.model_dump_json(by_alias=True))
    with_cursor = event.model_copy(update={"cursor": "0.1.0.ABC"})
    assert json.loads(with_cursor.model_dump_json(by_alias=True))["cursor"] == "0.1.0.ABC"


def test_auth_frame_cursor_is_optional() -> None:
    assert AuthFrame.read({"type": "auth", "token": "t"}).cursor is None
    assert AuthFrame.read({"type": "auth", "token": "t", "cursor": "1.2.3.X"}).cursor == "1.2.3.X"
