"""Schedules are local wall-clock times, stored as UTC instants, DST-correct."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from campaign.definition import QuietHours, ScheduleEntry
from campaign.schedule import ScheduleProblem, resolve, respect_quiet_hours, slots, wall_times

BELGRADE = ZoneInfo("Europe/Belgrade")  # Kosovo audiences: CET/CEST
BISHKEK = ZoneInfo("Asia/Bishkek")  # UTC+6 all year, no DST


def test_a_local_time_in_bishkek_is_six_hours_ahead_of_utc_all_year() -> None:
    for month in (1, 7):
        slot = resolve(datetime(2027, month, 18, 10, 0), BISHKEK, recurring=False)
        assert slot.scheduled_at == datetime(2027, month, 18, 4, 0, tzinfo=UTC)
        assert slot.warnings == ()


def test_a_local_time_in_belgrade_follows_summer_time() -> None:
    winter = resolve(datetime(2027, 1, 12, 19, 0), BELGRADE, recurring=False)
    summer = resolve(datetime(2027, 4, 13, 19, 0), BELGRADE, recurring=False)
    assert winter.scheduled_at == datetime(2027, 1, 12, 18, 0, tzinfo=UTC)
    assert summer.scheduled_at == datetime(2027, 4, 13, 17, 0, tzinfo=UTC)


def test_a_one_off_time_in_the_spring_gap_is_an_error_that_suggests_a_time() -> None:
    # 2027-03-28 02:00 -> 03:00 in Europe/Belgrade: 02:30 never happens
    with pytest.raises(
        ScheduleProblem, match=r"02:30 does not exist in Europe/Belgrade.*pick 03:30"
    ):
        resolve(datetime(2027, 3, 28, 2, 30), BELGRADE, recurring=False)


def test_a_recurring_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    slot = resolve(datetime(2027, 3, 28, 2, 30), BELGRADE, recurring=True)
    assert slot.local_time.replace(tzinfo=None) == datetime(2027, 3, 28, 3, 30)
    assert slot.scheduled_at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert slot.warnings == (
        "2027-03-28 02:30 does not exist in Europe/Belgrade (DST gap); moved to 03:30",
    )


def test_a_time_that_happens_twice_in_the_autumn_means_the_first_one() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens at 00:30 UTC and again at 01:30 UTC
    slot = resolve(datetime(2026, 10, 25, 2, 30), BELGRADE, recurring=False)
    assert slot.scheduled_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert "happens twice" in slot.warnings[0]


def test_a_weekly_recurrence_keeps_its_local_hour_across_the_dst_change() -> None:
    entry = ScheduleEntry(rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=10;BYMINUTE=0")
    found = list(
        slots(entry, zone=BELGRADE, quiet=None, start=date(2027, 3, 20), end=date(2027, 4, 5))
    )
    assert [s.local_time.hour for s in found] == [10, 10, 10]
    assert [s.scheduled_at.hour for s in found] == [9, 8, 8]  # before and after 28 March


def test_a_recurrence_is_bounded_by_the_campaign_window() -> None:
    entry = ScheduleEntry(rrule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    times = wall_times(entry, date(2026, 12, 18), date(2026, 12, 20))
    assert times == tuple(datetime(2026, 12, d, 9, 0) for d in (18, 19, 20))


def test_a_runaway_recurrence_is_refused() -> None:
    entry = ScheduleEntry(rrule="FREQ=MINUTELY")
    with pytest.raises(ScheduleProblem, match="yields more than 10000 times"):
        wall_times(entry, date(2026, 12, 18), date(2027, 3, 31))


def test_a_recurrence_with_no_time_in_the_window_is_refused() -> None:
    entry = ScheduleEntry(rrule="FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1")
    with pytest.raises(ScheduleProblem, match="yields no time"):
        wall_times(entry, date(2026, 12, 18), date(2027, 3, 31))


def test_a_recurrence_ended_by_until_before_its_first_time_says_to_move_until() -> None:
    entry = ScheduleEntry(rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;UNTIL=20261219")
    with pytest.raises(
        ScheduleProblem, match=r"UNTIL=20261219 ends it before its first time, 2026-12-21 09:00"
    ):
        wall_times(entry, date(2026, 12, 18), date(2027, 3, 31))


def test_a_recurrence_whose_parts_never_meet_says_to_check_them() -> None:
    entry = ScheduleEntry(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;UNTIL=20270301")
    with pytest.raises(ScheduleProblem, match=r"BY\.\.\. parts never meet") as raised:
        wall_times(entry, date(2026, 12, 18), date(2027, 3, 31))
    assert "UNTIL" not in str(raised.value).split(": ", 1)[1]


def test_a_recurrence_of_no_times_is_refused_with_a_hint_about_count() -> None:
    with pytest.raises(ValueError, match="COUNT=0 must be a whole number of at least 1") as raised:
        ScheduleEntry(rrule="FREQ=DAILY;BYHOUR=9;COUNT=0")
    assert "30 February" not in str(raised.value)


QUIET = QuietHours.model_validate("22:00-08:00")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 18, 23, 15), datetime(2026, 12, 19, 8, 0)),  # evening: next morning
        (datetime(2026, 12, 19, 6, 0), datetime(2026, 12, 19, 8, 0)),  # early: same morning
        (datetime(2026, 12, 19, 8, 0), datetime(2026, 12, 19, 8, 0)),  # the end is not quiet
        (datetime(2026, 12, 19, 21, 59), datetime(2026, 12, 19, 21, 59)),
    ],
)
def test_a_post_in_quiet_hours_moves_to_their_end(local: datetime, expected: datetime) -> None:
    slot = respect_quiet_hours(resolve(local, BISHKEK, recurring=False), QUIET, BISHKEK)
    assert slot.local_time.replace(tzinfo=None) == expected
    assert bool(slot.warnings) == (local != expected)


def test_the_quiet_hours_warning_says_where_the_post_went() -> None:
    slot = respect_quiet_hours(
        resolve(datetime(2026, 12, 18, 23, 15), BISHKEK, recurring=False), QUIET, BISHKEK
    )
    assert slot.warnings == ("23:15 is in quiet hours 22:00-08:00; moved to the next day 08:00",)


def test_quiet_hours_within_one_day() -> None:
    lunch = QuietHours.model_validate("12:00-13:00")
    assert lunch.contains(time(12, 30))
    assert not lunch.contains(time(13, 0))
    assert not lunch.contains(time(23, 0))
