"""Classroom rooms: a teacher's view that students follow, and the class's guesses, held in this process.

Streamlit-free, so the rules are tested without a browser; ``attnviz.ui.room`` draws the sidebar widget.

A room has a short code that students type (``K7Q-2M``: no 0/O/1/I to misread on a projector) and a secret
that only the teacher's session holds; every change to the room (what the class sees, the current
exercise, the reveal, closing) needs the secret, so knowing the code lets a student read the room and
guess, never steer it. Rooms nobody touched for ``ROOM_TTL`` seconds expire.

    >>> rooms = Rooms()
    >>> code, secret = rooms.open()
    >>> rooms.publish(code, secret, View("attention", {"head": ("3",)}))
    >>> rooms.get(code).view.params["head"]
    ('3',)
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from attnviz.errors import InputError

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Code characters: letters and digits without 0, O, 1 and I (easy to misread when projected)."""
ROOM_TTL = 4 * 3600.0
"""Seconds after the last teacher or student activity at which a room expires."""
MAX_ROOMS = 1_000
"""Open rooms per server: opening one more closes the least recently used room."""
MAX_GUESSERS = 1_000
"""Guessers kept per exercise (a bound on memory, far above a class)."""
MAX_PARAM_CHARS = 20_000
"""Longest view (all query-parameter values together) a room stores."""
_CODE = re.compile(r"^[A-Z2-9]{3}-[A-Z2-9]{2}$")


class RoomError(InputError):
    """Unknown or expired code, or a change without the teacher's secret: shown to the user as it is."""


@dataclass(frozen=True)
class View:
    """What the class sees: a page name (``"attention"``), its query parameters (name → values, as a share
    link carries them) and the model key ``(name, device, dtype)`` (None: the default)."""

    page: str
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    model: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class RoomState:
    """A read-only copy of a room. ``version`` grows with every change of the view or the exercise (not with
    joins and guesses), so a follower polls it cheaply and reruns only when the class view changed.

    Attributes:
        exercise: the id of the exercise the teacher started (None: none), ``revealed``: its answer is shown;
            ``exercise_spec``: the record the teacher sent with it (None: none).
        counts: for the current exercise, how many students chose each option (option → count).
    """

    code: str
    version: int
    view: View | None
    exercise: str | None
    revealed: bool
    counts: Mapping[str, int]
    members: int
    exercise_spec: Mapping | None = None
    """What the teacher sent with the exercise (JSON-able, e.g. the exercise record): students draw it."""


class _Room:
    def __init__(self, code: str, secret: str, now: float):
        self.code, self.secret = code, secret
        self.touched = now
        self.version = 0
        self.view: View | None = None
        self.exercise: str | None = None
        self.exercise_spec: Mapping | None = None
        self.revealed = False
        self.guesses: dict[str, str] = {}  # member → option, for the current exercise
        self.members: set[str] = set()

    def state(self) -> RoomState:
        counts: dict[str, int] = {}
        for option in self.guesses.values():
            counts[option] = counts.get(option, 0) + 1
        return RoomState(self.code, self.version, self.view, self.exercise, self.revealed, counts, len(self.members),
                         self.exercise_spec)


def normalise_code(text: str) -> str:
    """What a student typed (``k7q2m``, `` K7Q-2M ``) as a room code (``K7Q-2M``).

    Raises:
        RoomError: it cannot be a room code.
    """
    chars = re.sub(r"[\s\-]", "", str(text or "")).upper()
    code = f"{chars[:3]}-{chars[3:]}"
    if not _CODE.match(code) or any(c not in ALPHABET for c in chars):
        raise RoomError("A room code has 5 letters and digits, like K7Q-2M.")
    return code


def _clean_view(view: View) -> View:
    if not isinstance(view.page, str) or not re.match(r"^[a-z_]{1,40}$", view.page):
        raise RoomError("Not a page of this app.")
    params = {str(k): tuple(str(v) for v in ([vals] if isinstance(vals, str) else vals))
              for k, vals in dict(view.params).items()}
    if sum(len(k) + sum(len(v) for v in vals) for k, vals in params.items()) > MAX_PARAM_CHARS:
        raise RoomError("This view is too large to share with the room: shorten the text.")
    model = None if view.model is None else tuple(str(x) for x in view.model)
    return View(view.page, params, model)


class Rooms:
    """The open rooms of one server process (thread-safe: every Streamlit session runs in its own thread).

    Args:
        clock: seconds, for expiry (tests pass a fake one).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._rooms: dict[str, _Room] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------ teacher
    def open(self) -> tuple[str, str]:
        """A new room: (code for the students, secret for the teacher's session only)."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            if len(self._rooms) >= MAX_ROOMS:
                oldest = min(self._rooms.values(), key=lambda r: r.touched)
                del self._rooms[oldest.code]
            while True:
                chars = "".join(secrets.choice(ALPHABET) for _ in range(5))
                code = f"{chars[:3]}-{chars[3:]}"
                if code not in self._rooms:
                    break
            secret = secrets.token_urlsafe(24)
            self._rooms[code] = _Room(code, secret, now)
            return code, secret

    def publish(self, code: str, secret: str, view: View) -> bool:
        """Show ``view`` to the room; False when it is what the room already shows (no new version)."""
        view = _clean_view(view)
        with self._lock:
            room = self._teacher_room(code, secret)
            if room.view == view:
                return False
            room.view = view
            room.version += 1
            return True

    def start_exercise(self, code: str, secret: str, exercise: str | None, spec: Mapping | None = None) -> None:
        """Ask the class ``exercise`` (an id; None ends it): earlier guesses are cleared, the answer hidden.

        ``spec`` travels with it to the students (the exercise record as plain JSON values; at most
        ``MAX_PARAM_CHARS`` characters of JSON).
        """
        if spec is not None:
            try:
                size = len(json.dumps(spec))
            except (TypeError, ValueError) as exc:
                raise RoomError("An exercise must be plain JSON values.") from exc
            if size > MAX_PARAM_CHARS:
                raise RoomError("This exercise is too large to share with the room: shorten its text.")
            spec = json.loads(json.dumps(spec))  # a private copy
        with self._lock:
            room = self._teacher_room(code, secret)
            room.exercise, room.revealed, room.guesses = exercise, False, {}
            room.exercise_spec = spec if exercise is not None else None
            room.version += 1

    def reveal(self, code: str, secret: str) -> None:
        """Show the current exercise's answer and the class's guesses to everyone."""
        with self._lock:
            room = self._teacher_room(code, secret)
            if room.exercise is None:
                raise RoomError("No exercise is running in this room.")
            room.revealed = True
            room.version += 1

    def close(self, code: str, secret: str) -> None:
        with self._lock:
            self._teacher_room(code, secret)
            del self._rooms[normalise_code(code)]

    # ------------------------------------------------------------------------------ students
    def join(self, code: str) -> tuple[str, RoomState]:
        """(a member id for this student's session, the room now)."""
        member = secrets.token_hex(8)
        with self._lock:
            room = self._room(code)
            room.members.add(member)
            return member, room.state()

    def get(self, code: str) -> RoomState:
        """The room now (cheap: students' pages poll it every half second)."""
        with self._lock:
            return self._room(code, touch=False).state()

    def guess(self, code: str, member: str, exercise: str, option: str) -> None:
        """Record (or change) a member's guess for the running exercise; refused once it is revealed."""
        with self._lock:
            room = self._room(code)
            if room.exercise != exercise:
                raise RoomError("This exercise is no longer running in the room.")
            if room.revealed:
                raise RoomError("The answer is already revealed.")
            if member not in room.guesses and len(room.guesses) >= MAX_GUESSERS:
                raise RoomError("This room has too many guesses.")
            room.guesses[member] = str(option)[:200]

    def is_teacher(self, code: str, secret: str | None) -> bool:
        with self._lock:
            room = self._rooms.get(code)
            return room is not None and bool(secret) and hmac.compare_digest(room.secret, str(secret))

    def __len__(self) -> int:
        with self._lock:
            self._sweep(self._clock())
            return len(self._rooms)

    # ------------------------------------------------------------------------------ inside
    def _room(self, code: str, *, touch: bool = True) -> _Room:
        now = self._clock()
        room = self._rooms.get(normalise_code(code))
        if room is None or now - room.touched > ROOM_TTL:
            if room is not None:
                del self._rooms[room.code]
            raise RoomError("No open room has this code (rooms close after a few idle hours).")
        if touch:
            room.touched = now
        return room

    def _teacher_room(self, code: str, secret: str) -> _Room:
        room = self._room(code)
        if not secret or not hmac.compare_digest(room.secret, str(secret)):
            raise RoomError("Only the teacher who opened this room can change it.")
        return room

    def _sweep(self, now: float) -> None:
        for code in [c for c, r in self._rooms.items() if now - r.touched > ROOM_TTL]:
            del self._rooms[code]


ROOMS = Rooms()
"""This server's rooms (every session of the process sees the same ones)."""


def query_of(params: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """A share link's query parameters (name → value or values) as a :class:`View`'s ``params``."""
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in params.items()}
