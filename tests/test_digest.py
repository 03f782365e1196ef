"""Digests per recipient: one email channel, some recipients told at once, others once a day or week."""

import datetime as dt
import re

import pytest
from pydantic import ValidationError
from servers import SMTPServer
from test_engine import run_days, settings_for
from test_outbox import drain

from alerts.channels import EmailChannel, WebhookChannel
from alerts.compose import sample_message
from alerts.message import Message
from alerts.notifiers import safe_key
from alerts.routing import Audience, Router
from forecaster.engine import Engine, RunSummary
from forecaster.replay import SimulatedClock
from forecaster.store import Store

OWNER, BOSS, TEAM = "owner@shop.test", "boss@shop.test", "team@shop.test"
SMTP = {"kind": "email", "host": "127.0.0.1", "security": "none", "sender": "alerts@shop.test"}


def email(**options):
    return EmailChannel(**{**SMTP, "port": 25, **options})


def test_plain_recipients_keep_the_channel_as_one_audience():
    assert email(recipients=[OWNER, BOSS]).audiences("mail") == [Audience("mail", "mail")]
    assert email(recipients=[OWNER], digest="daily").audiences("mail") == [Audience("mail", "mail", "daily")]
    same = email(recipients=[OWNER, {"address": BOSS, "digest": "weekly"}], digest="weekly")
    assert same.audiences("mail") == [Audience("mail", "mail", "weekly")]


def test_recipients_with_their_own_cadence_split_the_channel():
    channel = email(recipients=[OWNER, {"address": BOSS, "digest": "weekly"}, {"address": TEAM, "digest": "daily"}])
    assert channel.audiences("mail") == [
        Audience("mail", "mail", None, (OWNER,)),
        Audience("mail:weekly", "mail", "weekly", (BOSS,)),
        Audience("mail:daily", "mail", "daily", (TEAM,)),
    ]
    assert channel.create().recipients == [OWNER, BOSS, TEAM], "a test message reaches everyone"
    digest_first = email(recipients=[OWNER, {"address": BOSS, "digest": "immediate"}], digest="daily")
    assert digest_first.audiences("mail") == [Audience("mail", "mail", "daily", (OWNER,)), Audience("mail:immediate", "mail", None, (BOSS,))]


def test_bad_recipient_entries_are_refused_with_the_reason():
    with pytest.raises(ValidationError, match="listed more than once"):
        email(recipients=[OWNER, {"address": OWNER, "digest": "daily"}])
    with pytest.raises(ValidationError, match="'immediate', 'daily' or 'weekly'"):
        email(recipients=[{"address": BOSS, "digest": "monthly"}])
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        email(recipients=[{"address": BOSS, "digest": "daily", "severity": "critical"}])


def test_router_plans_each_audience_and_refuses_clashing_targets():
    channel = email(recipients=[OWNER, {"address": BOSS, "digest": "weekly"}])
    router = Router({"mail": channel}, "Europe/London")
    message = Message.from_dict({**sample_message(dt.datetime(2011, 10, 12, 9, tzinfo=dt.timezone.utc)).to_dict(), "event": "opened"})
    plan = router.plan(message, ["mail"], message.created_at)
    assert plan == {"mail": message.created_at, "mail:weekly": dt.datetime(2011, 10, 16, 23, tzinfo=dt.timezone.utc)}
    assert router.digests == {"mail:weekly": "weekly"}
    assert router.audience("gone") == Audience("gone", "gone"), "a delivery of a removed channel still resolves"
    hook = WebhookChannel(kind="webhook", url="https://hooks.test/x", secret="s")
    with pytest.raises(ValueError, match="'mail:weekly' is also the name of another channel"):
        Router({"mail": channel, "mail:weekly": hook})


def test_immediate_recipients_get_each_incident_and_digest_recipients_one_digest_once(orders_with_drop, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with SMTPServer() as smtp:
        channel = {**SMTP, "name": "mail", "port": smtp.port, "recipients": [OWNER, {"address": BOSS, "digest": "weekly"}]}
        store = Store(url).create()
        clock = SimulatedClock(dt.datetime(2011, 10, 1, tzinfo=dt.timezone.utc))
        engine = Engine(settings_for(orders_with_drop, url, channels=[channel], by=["country"], top=1), store, clock=clock)
        run_days(engine, clock, dt.date(2011, 10, 3), dt.date(2011, 10, 16))
        held = [d for d in store.outbox.list("pending") if d.channel == "mail:weekly"]
        before = [e.rcpt_tos for e in smtp.envelopes]

        smtp.fail_next(1, "451 4.3.0 Try again later")  # the digest's first attempt, at midnight after Sunday
        clock.now = dt.datetime(2011, 10, 17, 0, 5, tzinfo=dt.timezone.utc)
        first_try = RunSummary(as_of=clock.now)
        engine.deliver(first_try)
        run_days(engine, clock, dt.date(2011, 10, 18), dt.date(2011, 10, 20))
        drain(engine, clock, days=5)
        deliveries = store.outbox.list()
        store.close()
        mails = [(e.rcpt_tos, e.parse()) for e in smtp.envelopes]

    messages = {d.message.key: d.message for d in deliveries}
    assert len(held) >= 2 and before and all(rcpt == [OWNER] for rcpt in before), "the digest waits for the week to end"
    assert (first_try.retrying, first_try.sent) == (len(held), 0)
    assert {tuple(rcpt) for rcpt, _ in mails} == {(OWNER,), (BOSS,)}

    to_owner = [m for rcpt, m in mails if rcpt == [OWNER]]
    assert sorted(m["Message-ID"].strip() for m in to_owner) == sorted(f"<{safe_key(k)}@salescast>" for k in messages), "each incident once"

    to_boss = [m for rcpt, m in mails if rcpt == [BOSS]]
    weeks = {m.created_at.astimezone(dt.timezone.utc).isocalendar()[:2] for m in messages.values()}
    assert len(to_boss) == len(weeks), "one digest per week with incidents, none repeated after the retry"
    assert all(m["Subject"].strip().startswith("[digest] Weekly digest") for m in to_boss), "a long subject is folded"
    bodies = "\n".join(m.get_body(("plain",)).get_content() for m in to_boss).replace("\r\n", "\n")
    assert all(m.title in bodies for m in messages.values() if m.event != "resolved")
    for series in ("total", "United Kingdom"):
        assert re.search(rf"^- {series}: £[\d,]+ vs £[\d,]+ forecast \(-\d+%\)$", bodies, re.M), f"forecast vs actual of {series}"
    assert re.search(r"^- Biggest movers: (total|United Kingdom) -\d+%, (total|United Kingdom) -\d+%$", bodies, re.M)
    assert "basket -" in bodies, "each incident says why"
    assert {d.attempts for d in deliveries if d.message.key in {h.message.key for h in held} and d.channel == "mail:weekly"} == {2}
    assert {d.status for d in deliveries} == {"sent"}
