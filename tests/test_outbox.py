"""Delivery through the real engine and SQL outbox: faults, a killed process, dead letters, routing, digests."""

import collections
import datetime as dt
import json
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from servers import HTTPServer, Reply, SMTPServer, free_port
from test_channels import verified
from test_engine import run_days, settings_for
from typer.testing import CliRunner

from alerts.compose import sample_message
from alerts.message import Message
from alerts.notifiers import safe_key
from alerts.notifiers.webhook import WebhookNotifier
from alerts.outbox import Delivery, DeliveryPolicy, deliver_due, redeliver
from alerts.render import headline
from alerts.routing import Route
from forecaster.cli import app
from forecaster.engine import Engine, RunSummary
from forecaster.replay import SimulatedClock
from forecaster.store import Store
from forecaster.store.tables import messages

SECRET = "whsec-outbox"
FIRST, LAST = dt.date(2011, 10, 3), dt.date(2011, 10, 20)
START = dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc)


def webhook(url, name="hook", **route):
    return {"kind": "webhook", "name": name, "url": url, "secret": SECRET, "timeout_seconds": 0.3, **route}


def drain(engine, clock, days=3):
    """Later delivery passes (a day apart), as the scheduler would run them."""
    for _ in range(days):
        clock.now += dt.timedelta(days=1)
        engine.deliver(RunSummary(as_of=clock.now))


def keyed(server):
    """Idempotency keys of the webhook requests that the receiver accepted (2xx), each request verified."""
    assert all(verified(request, secret=SECRET) for request, _ in server.exchanges)
    return [request.headers["Idempotency-Key"] for request, reply in server.exchanges if reply.status < 300]


def test_every_alert_arrives_once_through_500_429_timeouts_refusals_and_smtp_errors(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    hook_port = free_port()
    with HTTPServer() as slack, SMTPServer() as smtp:
        slack.reply(Reply(500, "internal_error"), Reply(429, "rate_limited", {"Retry-After": "1"}))
        smtp.fail_next(1, "451 4.3.0 Try again later")
        smtp.fail_next(1, "550 5.7.1 Rejected for now")
        channels = [
            {"kind": "slack", "webhook_url": f"{slack.url}/services/T/B/X", "timeout_seconds": 2},
            {"kind": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "a@shop.test", "recipients": ["b@shop.test", "c@shop.test"]},
            webhook(f"http://127.0.0.1:{hook_port}/hook"),
        ]
        store = Store(url).create()
        clock = SimulatedClock(START)
        engine = Engine(settings_for(orders_with_drop, url, channels=channels, by=["country"], top=1), store, clock=clock)
        summaries = run_days(engine, clock, FIRST, dt.date(2011, 10, 13))  # nothing listens on the webhook port
        with HTTPServer(port=hook_port) as hook:
            hook.reply(Reply(delay=1.0))  # stalls beyond the notifier's timeout, then answers 200
            summaries += run_days(engine, clock, dt.date(2011, 10, 14), LAST)
            drain(engine, clock)
            dead = store.outbox.list("dead")
            revived, report = redeliver(store.outbox, None, engine.notifiers, engine.settings.delivery, clock(), engine.router)
            hook_keys = keyed(hook)
        messages = {d.message.key: d.message for d in store.outbox.list()}
        counts = store.outbox.counts()
        store.close()
        posts = [request.json()["text"] for request, reply in slack.exchanges if reply.status < 300]
        mails = smtp.messages

    errors = "\n".join(e for s in summaries for e in s.delivery_errors)
    for symptom in ("answered 500", "answered 429", "no answer within 0.3 s", "ConnectionError", "451", "550"):
        assert symptom in errors
    assert [d.channel for d in dead] == ["email"] and "550" in dead[0].last_error
    assert revived == 1 and report.sent == 1
    assert len(messages) >= 2 and counts == {"sent": 3 * len(messages)}
    assert sorted(post.split(":")[0] for post in posts) == sorted(headline(m) for m in messages.values())
    assert sorted(m["Message-ID"].strip() for m in mails) == sorted(f"<{safe_key(k)}@salescast>" for k in messages)
    assert sorted(set(hook_keys)) == sorted(messages), "every alert reached the receiver"
    duplicates = [k for k, n in collections.Counter(hook_keys).items() if n > 1]
    assert len(duplicates) <= 1, "only the stalled request may arrive twice, with the same Idempotency-Key"


KILLER = """
import datetime as dt, os, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_engine import LONDON, settings_for
from forecaster.engine import Engine
from forecaster.replay import SimulatedClock, run_times
from forecaster.store import Store
from forecaster.store.tables import messages

orders, url, hook = sys.argv[1:4]
channels = [{{"kind": "webhook", "name": "hook", "url": hook, "secret": {secret!r}, "timeout_seconds": 0.3}}]
store = Store(url).create()
enqueue = store.outbox.enqueue

def enqueue_then_die(*args, **kwargs):
    enqueue(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # persisted, not sent

store.outbox.enqueue = enqueue_then_die
clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
engine = Engine(settings_for(Path(orders), url, channels=channels), store, clock=clock)
for moment in run_times(dt.date(2011, 10, 3), dt.date(2011, 10, 20), "D", LONDON):
    clock.now = moment
    engine.run(moment)
"""


def test_a_process_killed_between_persisting_and_sending_delivers_once_after_restart(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    script = tmp_path / "killed.py"
    script.write_text(KILLER.format(tests=str(Path(__file__).parent), secret=SECRET))
    with HTTPServer() as hook:
        process = subprocess.run([sys.executable, str(script), str(orders_with_drop), url, f"{hook.url}/hook"], capture_output=True, text=True, timeout=600)
        assert process.returncode == -signal.SIGKILL, process.stderr
        assert hook.requests == []
        store = Store(url).create()
        [persisted] = store.outbox.list("pending")
        clock = SimulatedClock(START)
        engine = Engine(settings_for(orders_with_drop, url, channels=[webhook(f"{hook.url}/hook")]), store, clock=clock)
        run_days(engine, clock, FIRST, LAST)
        keys = {d.message.key for d in store.outbox.list()}
        counts = store.outbox.counts()
        store.close()
        received = keyed(hook)
    assert persisted.message.key in received
    assert sorted(received) == sorted(keys), "each alert once: none lost, none twice"
    assert counts == {"sent": len(keys)}


def test_routes_filter_and_a_daily_digest_combines_the_day(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with HTTPServer() as hook:
        channels = [
            webhook(f"{hook.url}/critical", "critical", min_severity="critical"),
            webhook(f"{hook.url}/digest", "digest", digest="daily"),
            webhook(f"{hook.url}/none", "elsewhere", series=["Germany*"]),
        ]
        store = Store(url).create()
        clock = SimulatedClock(START)
        engine = Engine(settings_for(orders_with_drop, url, channels=channels), store, clock=clock)
        run_days(engine, clock, FIRST, LAST)
        drain(engine, clock, days=1)
        deliveries = store.outbox.list()
        store.close()
        by_path = collections.defaultdict(list)
        for request in hook.requests:
            by_path[request.path].append(request.json())
    messages = {d.message.key: d.message for d in deliveries}
    assert "/none" not in by_path and {d.channel for d in deliveries} == {"critical", "digest"}
    critical = {k for k, m in messages.items() if m.severity == "critical" or m.event == "resolved"}
    assert {body["key"] for body in by_path["/critical"]} == critical
    days = collections.defaultdict(list)
    for m in messages.values():
        days[m.created_at.astimezone(dt.timezone.utc).date()].append(m)
    digests = by_path["/digest"]
    assert len(digests) == len(days), "one digest per day with events"
    assert all(d["event"] == "digest" and d["title"].startswith("Daily digest") for d in digests)
    listed = "\n".join(fact for d in digests for fact in d["facts"])
    assert all(m.title in listed for m in messages.values())


def test_route_matching():
    message = sample_message(dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc))
    opened = Message.from_dict({**message.to_dict(), "event": "opened", "series_id": "Germany / web"})
    assert Route(series=["Germany*"]).matches(opened) and not Route(series=["France*", "total"]).matches(opened)
    assert Route(min_severity="warning").matches(opened) and not Route(min_severity="critical").matches(opened)
    resolved = Message.from_dict({**opened.to_dict(), "event": "resolved", "severity": "info"})
    assert Route(min_severity="critical").matches(resolved), "a resolution closes the story wherever it opened"


def test_alerts_cli_lists_retries_and_tests(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    message = sample_message(dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc))
    store.outbox.enqueue(message, ["hook"], message.created_at)
    store.outbox.record(Delivery(f"{message.key}@hook", message, "hook", status="dead", attempts=8, last_error="gave up: 503"))
    store.close()
    runner = CliRunner()
    with HTTPServer() as hook:
        config = tmp_path / "salescast.yaml"
        config.write_text(yaml.safe_dump({"store": {"url": url}, "channels": [webhook(f"{hook.url}/hook")]}))
        listed = runner.invoke(app, ["alerts", "list", "--failed", "--config", str(config)])
        missing = runner.invoke(app, ["alerts", "retry", "nope", "--config", str(config)])
        retried = runner.invoke(app, ["alerts", "retry", "--all", "--config", str(config)])
        after = runner.invoke(app, ["alerts", "list", "--failed", "--config", str(config)])
        tested = runner.invoke(app, ["alerts", "test", "--channel", "hook", "--config", str(config)])
        unknown = runner.invoke(app, ["alerts", "test", "--channel", "pager", "--config", str(config)])
        bodies = [request.json() for request in hook.requests]
    assert listed.exit_code == 0 and "gave up: 503" in listed.output
    assert missing.exit_code == 2 and "no dead delivery" in missing.output
    assert retried.exit_code == 0 and "sent 1" in retried.output
    assert "gave up" not in after.output
    assert tested.exit_code == 0 and unknown.exit_code == 2 and "configured: hook" in unknown.output
    assert [b["key"] for b in bodies][0] == message.key and bodies[1]["event"] == "test" and len(bodies[1]["history"]) == 28


def test_a_message_stored_before_decompositions_existed_still_sends(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(url).create()
    message = sample_message(dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc))
    store.outbox.enqueue(message, ["hook"], message.created_at)
    legacy = {k: v for k, v in message.to_dict().items() if k != "decomposition"}
    with store.outbox.engine.begin() as conn:
        conn.execute(messages.update().where(messages.c.key == message.key).values(payload=json.dumps(legacy)))
    with HTTPServer() as hook:
        notifiers = {"hook": WebhookNotifier(f"{hook.url}/hook", SECRET, timeout=5)}
        report = deliver_due(store.outbox, notifiers, DeliveryPolicy(), message.created_at)
        [request] = hook.requests
    store.close()
    assert report.sent == 1 and verified(request, secret=SECRET)
    body = request.json()
    assert body["schema"] == "salescast.alert/v1.2" and body["key"] == message.key and body["decomposition"] is None
