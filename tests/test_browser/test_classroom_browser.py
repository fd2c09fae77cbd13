"""A classroom in Chromium: one teacher and students in separate browser contexts (no shared cookies).

1. Two students join with the code the teacher's sidebar shows, are taken to the teacher's page, and see the
   teacher's head and input change within ``FOLLOW_SECONDS``, measured from the moment the teacher's own
   page has applied the change (its rerun is over). A student who changes the head explores on their own
   (the teacher and the other student are unaffected) and comes back with "Back to the teacher"; a student
   has no room controls.
2. An exercise round: a third student joins, the teacher asks a shipped exercise, three students click their
   guesses, the teacher reveals, and every student's page shows the answer with the class's counts.

``ATTNVIZ_FOLLOW_SECONDS`` (default 2) loosens the follow bound on an overloaded machine: students poll the
room every 0.5 s, then rerun the page, and a rerun of the Attention page took 5–20 s at load average 15
on the shared 2-core machine. The measured latencies are printed either way.
"""

import os
import re
import time

import pytest
from playwright.sync_api import expect

from tests.helpers import ARTIFACTS
from tests.test_browser.conftest import SLOW, rerun_finished, wait_for_tick, wait_for_title, wait_idle

pytestmark = [
    pytest.mark.browser, pytest.mark.timeout(1500),  # four browsers at once on a loaded machine
    pytest.mark.skipif(not os.environ.get("ATTNVIZ_CLASSROOM_BROWSER"), reason=(
        "set ATTNVIZ_CLASSROOM_BROWSER=1: not yet passed end to end (see /work/notes/class5.md); its follow "
        "part passed (1.16 s / 0.28 s at load average 11)")),
]

FOLLOW_SECONDS = float(os.environ.get("ATTNVIZ_FOLLOW_SECONDS", "2"))
TEXT = "Ravens hide food for later."
CHART_BARS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => p.data && p.data[0] && String(p.data[0].hovertemplate).includes('guess'))
    .map(p => Object.fromEntries(p.data[0].x.map((x, i) => [x, p.data[0].y[i]])))"""


def new_page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(url, wait_until="domcontentloaded", timeout=SLOW)
    return context, page


def choose(page, label: str, option: str) -> None:
    with rerun_finished(page):
        page.get_by_label(label, exact=True).click()
        page.get_by_role("option", name=option, exact=True).click()


def followed_within(pages, label: str, value: str) -> float:
    """Seconds until every page's widget ``label`` shows ``value`` (fails after a generous timeout)."""
    started = time.monotonic()
    for page in pages:
        expect(page.get_by_label(label, exact=True)).to_have_value(value, timeout=SLOW)
    return time.monotonic() - started


def open_student(browser, url: str):
    """A student's page elsewhere in the app (the Lab), loaded and idle, not in a room yet."""
    context, student = new_page(browser, url + "/lab")
    student.get_by_role("button", name="Join").wait_for()
    wait_idle(student)
    return context, student


def join(student, code: str) -> None:
    student.get_by_label("Room code").fill(code.lower().replace("-", ""))  # as a student might type it
    student.get_by_role("button", name="Join").click()


@pytest.fixture(scope="module")
def classroom(app_url, browser):
    """The teacher's page (a room open) and three students' pages, loaded before anyone joins: on a loaded
    machine a first page load is slow, and slower still while other sessions poll the room."""
    contexts = []
    context, teacher = new_page(browser, app_url)
    contexts.append(context)
    students = []
    for _ in range(3):
        context, student = open_student(browser, app_url)
        contexts.append(context)
        students.append(student)
    teacher.get_by_role("button", name="Analyse").wait_for()
    wait_idle(teacher)
    teacher.get_by_role("button", name="Open a room (teacher)").click()
    code_box = teacher.locator('[data-testid="stSidebar"]').get_by_text(re.compile(r"^[A-Z2-9]{3}-[A-Z2-9]{2}$"))
    code = code_box.text_content().strip()
    wait_idle(teacher)
    try:
        yield {"teacher": teacher, "code": code, "contexts": contexts, "students": students}
    finally:
        for context in contexts:
            context.close()


def shoot_on_failure(classroom, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for i, context in enumerate(classroom["contexts"]):
        try:
            context.pages[0].screenshot(path=str(ARTIFACTS / f"{name}_{i}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
            pass


def test_students_follow_the_teacher_leave_and_come_back(classroom):
    teacher = classroom["teacher"]
    try:
        students = classroom["students"][:2]
        for student in students:
            join(student, classroom["code"])
        for student in students:  # taken to the teacher's page
            student.get_by_role("button", name="Analyse").wait_for()
            expect(student.get_by_text("Following the teacher")).to_be_visible(timeout=SLOW)
        expect(teacher.get_by_text("2 student(s) joined")).to_be_visible(timeout=SLOW)  # its sidebar polls

        choose(teacher, "Head", "5")  # returns once the teacher's own rerun is over: the change is applied
        head_seconds = followed_within(students, "Head", "5")
        print(f"\nfollowed: head in {head_seconds:.2f} s (load average {os.getloadavg()[0]:.1f})", flush=True)

        teacher.get_by_label("Text", exact=True).fill(TEXT)
        teacher.get_by_role("button", name="Analyse").click()
        wait_for_tick(teacher, "ravens")  # MiniLM lowercases its tokens
        wait_idle(teacher)
        text_seconds = followed_within(students, "Text", TEXT)
        print(f"followed: head in {head_seconds:.2f} s, input in {text_seconds:.2f} s "
              f"(bound {FOLLOW_SECONDS} s, load average {os.getloadavg()[0]:.1f})")
        assert head_seconds < FOLLOW_SECONDS and text_seconds < FOLLOW_SECONDS
        for student in students:
            wait_for_tick(student, "ravens")  # the followed input is analysed too (no idle wait: a
            # student's page polls the room every 0.5 s, and under load a poll is nearly always running)

        # a student steps away: the room does not move
        leaver, stayer = students
        leaver.get_by_label("Head", exact=True).click()  # no idle wait on a polling student: wait on the state
        leaver.get_by_role("option", name="2", exact=True).click()
        expect(leaver.get_by_text("Exploring on your own")).to_be_visible(timeout=SLOW)
        choose(teacher, "Layer", "3")
        expect(stayer.get_by_label("Layer", exact=True)).to_have_value("3", timeout=SLOW)
        assert teacher.get_by_label("Head", exact=True).input_value() == "5"  # unchanged by the student
        assert stayer.get_by_label("Head", exact=True).input_value() == "5"
        assert leaver.get_by_label("Head", exact=True).input_value() == "2"  # not pulled back while away
        assert leaver.get_by_label("Layer", exact=True).input_value() == "0"

        leaver.get_by_role("button", name="Back to the teacher").click()
        expect(leaver.get_by_label("Head", exact=True)).to_have_value("5", timeout=SLOW)
        expect(leaver.get_by_label("Layer", exact=True)).to_have_value("3", timeout=SLOW)
        expect(leaver.get_by_text("Following the teacher")).to_be_visible(timeout=SLOW)
        for student in students:  # a student has no room controls
            assert student.get_by_role("button", name="Close the room").count() == 0
            assert student.get_by_role("button", name="Ask the class").count() == 0
    except Exception:
        shoot_on_failure(classroom, "classroom_follow_failed")
        raise


def test_an_exercise_round_shows_the_class_counts(classroom):
    teacher = classroom["teacher"]
    try:
        students = classroom["students"]
        third = students[2]
        join(third, classroom["code"])
        expect(third.get_by_text("Following the teacher")).to_be_visible(timeout=SLOW)

        teacher.get_by_text("Predict, then reveal").click()  # open the panel
        ask = teacher.get_by_role("button", name="Ask the class")
        ask.wait_for()
        with rerun_finished(teacher):
            ask.click()
        question = "Layer 0, head 2: which word does 'it' attend to most?"  # the first shipped exercise
        expect(teacher.get_by_text(question).first).to_be_visible(timeout=SLOW)

        guesses = ["until", "dog", "until"]
        for student, word in zip(students, guesses):
            expect(student.get_by_text(question).first).to_be_visible(timeout=SLOW)
            group = student.locator('[data-testid="stButtonGroup"]').last
            group.get_by_role("button", name=word, exact=True).click()
            expect(student.get_by_text("Your guess goes to the room")).to_be_visible(timeout=SLOW)

        with rerun_finished(teacher):
            teacher.get_by_role("button", name="Reveal the answer").click()
        for page in [teacher, *students]:
            wait_for_title(page, "3 guess(es)")
            answer_box = page.get_by_text("Answer:").first
            expect(answer_box).to_be_visible(timeout=SLOW)
            bars = page.evaluate(CHART_BARS)
            assert len(bars) == 1
            counts = {re.sub(r" ✓$", "", k): v for k, v in bars[0].items()}
            assert counts["until"] == 2 and counts["dog"] == 1 and sum(counts.values()) == 3, counts
            right = [re.sub(r" ✓$", "", k) for k in bars[0] if k.endswith("✓")]
            assert len(right) == 1 and f"Answer: {right[0]}" in answer_box.text_content()
    except Exception:
        shoot_on_failure(classroom, "classroom_exercise_failed")
        raise
