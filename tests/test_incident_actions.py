"""People's say on incidents: acknowledge, snooze, feedback, in the store and from the command line."""

import datetime as dt
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import sqlalchemy as sa

from alerts.incidents import Incident
from forecaster.errors import InputError
from forecaster.store import Store

NOW = dt.datetime(2011, 11, 14, 9, 30, tzinfo=dt.timezone.utc)


def _incident(series_id="Germany", rule="band", period=dt.date(2011, 11, 10)) -> Incident:
    return Incident(
        id=f"{series_id}|{rule}|{period.isoformat()}", series_id=series_id, rule=rule, status="open",
        opened_period=period, last_period=period, severity="warning", notified_score=0.23, baseline_from=period - dt.timedelta(days=4),
        notified_period=period,
    )


@pytest.mark.parametrize("store_url", ["sqlite", "postgres", "mysql"], indirect=True)
def test_actions_are_stored_with_their_audit_trail_and_survive_the_trackers_saves(store_url):
    store = Store(store_url).create()
    try:
        incident = _incident()
        store.incidents.save(incident)
        store.incidents.acknowledge(incident.id, "ana", NOW)
        store.incidents.snooze(incident.id, NOW + dt.timedelta(days=3), "ana", NOW + dt.timedelta(minutes=1))
        labelled = store.incidents.label(incident.id, "false_alarm", "ben", NOW + dt.timedelta(hours=2), note="stocktake day")
        assert labelled.acknowledged_at == NOW and labelled.snoozed_until == NOW + dt.timedelta(days=3)
        assert labelled.feedback == "false_alarm"

        store.incidents.save(incident)  # the tracker's next save carries none of the people's fields
        kept = store.incidents.get(incident.id)
        assert (kept.acknowledged_at, kept.snoozed_until, kept.feedback) == (NOW, NOW + dt.timedelta(days=3), "false_alarm")

        trail = store.incidents.actions(incident.id)
        assert [(a.action, a.value, a.actor) for a in trail] == [
            ("ack", NOW.isoformat(), "ana"),
            ("snooze", (NOW + dt.timedelta(days=3)).isoformat(), "ana"),
            ("feedback", "false_alarm", "ben"),
        ]
        assert trail[2].note == "stocktake day" and trail[2].at == NOW + dt.timedelta(hours=2)

        store.incidents.save(_incident("France"))
        store.incidents.label(_incident("France").id, "real", "ben", NOW)
        store.incidents.save(_incident("Germany", period=dt.date(2011, 11, 20)))
        store.incidents.label(_incident("Germany", period=dt.date(2011, 11, 20)).id, "false_alarm", "ben", NOW)
        assert store.incidents.feedback_counts() == {"Germany": {"false_alarm": 2}, "France": {"real": 1}}
        assert [i.series_id for i in store.incidents.list(series_id="France")] == ["France"]
    finally:
        store.close()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres", "mysql"], indirect=True)
def test_many_saves_at_once_update_and_insert_and_keep_peoples_fields(store_url):
    store = Store(store_url).create()
    try:
        first = [_incident(f"store {n}") for n in range(1200)]  # more ids than one IN list holds
        store.incidents.save_all(first[:700])
        store.incidents.acknowledge(first[3].id, "ana", NOW)
        store.incidents.label(first[650].id, "real", "ben", NOW)
        later = [replace(i, status="resolved", ok_streak=3) for i in first[:700]]
        statements = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        store.incidents.save_all([*later, *first[700:], first[700]])  # updates, inserts, an id saved twice
        assert len([s for s in statements if not s.lstrip().upper().startswith("SELECT")]) == 2  # no round trip per incident
        stored = {i.id: i for i in store.incidents.list()}
    finally:
        store.close()
    assert len(stored) == 1200
    assert all(stored[i.id].status == "resolved" and stored[i.id].ok_streak == 3 for i in first[:700])
    assert all(stored[i.id] == i for i in first[700:])
    assert stored[first[3].id].acknowledged_at == NOW and stored[first[650].id].feedback == "real"


def test_bad_actions_say_what_is_wrong(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}").create()
    try:
        store.incidents.save(_incident())
        with pytest.raises(InputError, match="no incident with id 'nope'"):
            store.incidents.acknowledge("nope", "ana", NOW)
        with pytest.raises(InputError, match="unknown label 'meh'.*real, expected, false_alarm"):
            store.incidents.label(_incident().id, "meh", "ana", NOW)
        with pytest.raises(InputError, match="not in the future"):
            store.incidents.snooze(_incident().id, NOW - dt.timedelta(hours=1), "ana", NOW)
        assert store.incidents.actions(_incident().id) == []
    finally:
        store.close()


def salescast(*args):
    wide = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "forecaster", *map(str, args)], capture_output=True, text=True, timeout=120, env=wide)


def test_the_command_line_lists_acknowledges_snoozes_and_labels(tmp_path):
    config = tmp_path / "salescast.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/s.db'}}\ntimezone: Europe/London\n")
    store = Store(f"sqlite:///{tmp_path}/s.db").create()
    incident = _incident()
    store.incidents.save(incident)
    store.close()

    assert salescast("alerts", "ack", incident.id, "--by", "ana", "--config", config).returncode == 0
    snoozed = salescast("alerts", "snooze", incident.id, "--for", "2d", "--config", config)
    assert snoozed.returncode == 0 and "snoozed" in snoozed.stdout
    assert salescast("alerts", "feedback", incident.id, "false-alarm", "--note", "promo ended", "--config", config).returncode == 0
    listed = salescast("alerts", "incidents", "--open", "--config", config)
    assert listed.returncode == 0 and "false_alarm" in listed.stdout and "yes" in listed.stdout

    store = Store(f"sqlite:///{tmp_path}/s.db").create()
    try:
        stored = store.incidents.get(incident.id)
        assert stored.feedback == "false_alarm" and stored.acknowledged_at is not None
        assert dt.timedelta(days=1, hours=23) < stored.snoozed_until - stored.acknowledged_at < dt.timedelta(days=2, hours=1)
        assert [a.action for a in store.incidents.actions(incident.id)] == ["ack", "snooze", "feedback"]
    finally:
        store.close()

    for args, problem in [
        (("ack", "missing-id"), "no incident with id 'missing-id'"),
        (("snooze", incident.id, "--for", "soon"), "--for: 'soon' is not a duration"),
        (("snooze", incident.id), "give --for or --until"),
        (("feedback", incident.id, "meh"), "unknown label 'meh'"),
    ]:
        result = salescast("alerts", *args, "--config", config)
        assert result.returncode == 2 and problem in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("store_url", ["sqlite", "postgres", "mysql"], indirect=True)
def test_a_monitor_pass_reads_each_series_latest_incident_with_peoples_actions(store_url):
    from dataclasses import replace

    from alerts.incidents import BufferedIncidents

    store = Store(store_url).create()
    try:
        old = replace(_incident(period=dt.date(2011, 10, 3)), status="resolved", resolved_period=dt.date(2011, 10, 9))
        for incident in (old, _incident(), _incident("France", period=dt.date(2011, 11, 7))):
            store.incidents.save(incident)
        store.incidents.snooze(_incident().id, NOW + dt.timedelta(days=1), "ana", NOW)
        cached = BufferedIncidents(store.incidents)
        assert sorted(i.id for i in cached.all()) == ["France|band|2011-11-07", "Germany|band|2011-11-10"]
        assert cached.list(series_id="Germany")[0].snoozed_until == NOW + dt.timedelta(days=1)
        cached.save(replace(_incident(), status="resolved", resolved_period=dt.date(2011, 11, 12)))
        assert store.incidents.get(_incident().id).status == "open", "saves wait for the flush"
        cached.flush()
        assert store.incidents.get(_incident().id).status == "resolved", "a flush writes them to the store"
        assert store.incidents.get(_incident().id).snoozed_until == NOW + dt.timedelta(days=1), "people's actions are kept"
        cached.save(replace(_incident("France", period=dt.date(2011, 11, 7)), severity="critical"))
        cached.save(_incident("Spain"))
        cached.flush()
        assert store.incidents.get(_incident("France", period=dt.date(2011, 11, 7)).id).severity == "critical"
        assert store.incidents.get(_incident("Spain").id).status == "open", "one flush updates and inserts"
    finally:
        store.close()
