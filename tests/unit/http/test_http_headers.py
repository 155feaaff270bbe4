"""``Headers``: an ordered, case-insensitive multi-map of raw header fields."""

from __future__ import annotations

from hanzo_edge.http.headers import Headers


def make() -> Headers:
    return Headers([(b"Host", b"a"), (b"X-A", b"1"), (b"x-a", b"2"), (b"Accept", b"*/*")])


def test_lookups_are_case_insensitive() -> None:
    h = make()
    assert h.get("x-A") == "1"
    assert h.get_all("X-a") == ["1", "2"]
    assert h.get_raw(b"x-a") == b"1"
    assert h.get("missing", "d") == "d"
    assert "HOST" in h
    assert b"accept" in h
    assert 3 not in h


def test_set_replaces_every_value_at_the_first_position() -> None:
    h = make()
    h.set("X-A", "3")
    assert h.raw == [(b"Host", b"a"), (b"X-A", b"3"), (b"Accept", b"*/*")]
    h.set("New", "n")
    assert h.raw[-1] == (b"New", b"n")


def test_add_and_remove() -> None:
    h = make()
    h.add("X-A", "3")
    assert h.get_all("x-a") == ["1", "2", "3"]
    h.remove("X-A")
    assert h.raw == [(b"Host", b"a"), (b"Accept", b"*/*")]
    h.remove("absent")
    assert len(h) == 2


def test_iteration_decodes_latin1() -> None:
    h = Headers([(b"X-L", b"caf\xe9")])
    assert list(h) == [("X-L", "caf\u00e9")]
    assert h.get("x-l") == "caf\u00e9"


def test_copy_is_independent() -> None:
    h = make()
    c = h.copy()
    c.add("X-B", "b")
    assert "X-B" not in h
