"""Rooms without a browser: codes, the teacher's secret, following versions, guesses and expiry."""

import re
import threading

import pytest

from attnviz.classroom.rooms import ALPHABET, MAX_ROOMS, ROOM_TTL, RoomError, Rooms, View, normalise_code


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def rooms(clock):
    return Rooms(clock)


def test_codes_are_short_unambiguous_and_distinct(rooms):
    codes = {rooms.open()[0] for _ in range(300)}
    assert len(codes) == 300
    for code in codes:
        assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{2}", code)
        assert not set(code.replace("-", "")) & set("01OI")
        assert set(code.replace("-", "")) <= set(ALPHABET)


def test_typed_codes_are_normalised_and_bad_ones_refused():
    assert normalise_code(" k7q2m ") == "K7Q-2M" == normalise_code("K7Q-2M")
    for bad in ("", "K7Q", "K7Q-2M9", "K0Q-2M", "<b>x</b>", "K7Q-2I"):
        with pytest.raises(RoomError):
            normalise_code(bad)


def test_teacher_publishes_students_read_versions(rooms):
    code, secret = rooms.open()
    member, state = rooms.join(code.lower().replace("-", ""))
    assert state.view is None and state.members == 1 and member
    v0 = rooms.get(code).version
    assert rooms.publish(code, secret, View("attention", {"head": "3", "text": ("it",)}, ("m", "cpu", "float32")))
    state = rooms.get(code)
    assert state.version == v0 + 1
    assert state.view == View("attention", {"head": ("3",), "text": ("it",)}, ("m", "cpu", "float32"))
    assert not rooms.publish(code, secret, View("attention", {"head": ("3",), "text": ("it",)},
                                                ("m", "cpu", "float32")))  # same view: no new version
    assert rooms.get(code).version == v0 + 1
    rooms.publish(code, secret, View("lab", {}))
    assert rooms.get(code).version == v0 + 2 and rooms.get(code).view.page == "lab"


def test_only_the_secret_changes_the_room(rooms):
    code, secret = rooms.open()
    other_code, other_secret = rooms.open()
    rooms.publish(code, secret, View("attention", {"head": ("1",)}))
    before = rooms.get(code)
    for wrong in ("", None, other_secret, secret[:-1] + ("x" if secret[-1] != "x" else "y")):
        with pytest.raises(RoomError, match="Only the teacher"):
            rooms.publish(code, wrong, View("attention", {"head": ("5",)}))
        with pytest.raises(RoomError):
            rooms.start_exercise(code, wrong, "ex")
        with pytest.raises(RoomError):
            rooms.close(code, wrong)
    assert rooms.get(code) == before
    assert rooms.is_teacher(code, secret) and not rooms.is_teacher(code, other_secret)
    assert not rooms.is_teacher(code, None)


def test_guesses_count_per_option_and_reset_per_exercise(rooms):
    code, secret = rooms.open()
    students = [rooms.join(code)[0] for _ in range(3)]
    with pytest.raises(RoomError):
        rooms.guess(code, students[0], "ex1", "animal")  # nothing running yet
    rooms.start_exercise(code, secret, "ex1")
    version = rooms.get(code).version
    for member, option in zip(students, ("animal", "street", "animal")):
        rooms.guess(code, member, "ex1", option)
    rooms.guess(code, students[1], "ex1", "animal")  # a changed mind counts once
    state = rooms.get(code)
    assert state.counts == {"animal": 3} and not state.revealed
    assert state.version == version  # guesses do not make followers rerun
    rooms.reveal(code, secret)
    assert rooms.get(code).revealed
    with pytest.raises(RoomError, match="already revealed"):
        rooms.guess(code, students[0], "ex1", "street")
    rooms.start_exercise(code, secret, "ex2")
    assert rooms.get(code).counts == {} and not rooms.get(code).revealed
    with pytest.raises(RoomError, match="no longer running"):
        rooms.guess(code, students[0], "ex1", "animal")


def test_rooms_expire_and_close(rooms, clock):
    code, secret = rooms.open()
    clock.now += ROOM_TTL - 1
    rooms.publish(code, secret, View("attention"))  # activity keeps it open
    clock.now += ROOM_TTL - 1
    assert rooms.get(code).view.page == "attention"
    clock.now += 2
    with pytest.raises(RoomError, match="No open room"):
        rooms.get(code)
    code, secret = rooms.open()
    rooms.close(code, secret)
    with pytest.raises(RoomError):
        rooms.join(code)
    assert len(rooms) == 0


def test_room_count_is_bounded(rooms, clock):
    first = rooms.open()[0]
    for _ in range(MAX_ROOMS):
        clock.now += 0.001
        rooms.open()
    assert len(rooms) == MAX_ROOMS
    with pytest.raises(RoomError):
        rooms.get(first)  # the least recently used room made way


def test_views_are_checked(rooms):
    code, secret = rooms.open()
    with pytest.raises(RoomError):
        rooms.publish(code, secret, View("../etc", {}))
    with pytest.raises(RoomError, match="too large"):
        rooms.publish(code, secret, View("attention", {"text": ("x" * 30_000,)}))


def test_concurrent_guesses_are_all_counted(rooms):
    code, secret = rooms.open()
    rooms.start_exercise(code, secret, "ex")
    members = [rooms.join(code)[0] for _ in range(40)]
    threads = [threading.Thread(target=rooms.guess, args=(code, m, "ex", str(i % 4))) for i, m in enumerate(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rooms.get(code).counts == {"0": 10, "1": 10, "2": 10, "3": 10}
