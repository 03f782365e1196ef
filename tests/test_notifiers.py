import dataclasses
import datetime as dt
import io
import json
import traceback

import pytest
from servers import HTTPServer, Reply, SMTPServer, free_port

from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers.console import SEPARATOR, ConsoleNotifier
from alerts.notifiers.directory import DirectoryNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.memory import MemoryNotifier
from alerts.notifiers.slack import SlackWebhookNotifier
from alerts.render import render_email, render_text

WEBHOOK_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"
PASSWORD = "s3cret-pa55"


@pytest.fixture
def message() -> Message:
    return Message(
        key="store-7/band:2011-12-05 opened",
        event="opened",
        series_id="store=7",
        rule="band",
        severity="warning",
        title="Sales in store 7 are 18% below forecast this week",
        period_start=dt.date(2011, 12, 5),
        period_end=dt.date(2011, 12, 11),
        actual=8200.0,
        expected=10000.0,
        lower=8900.0,
        upper=11100.0,
        deviation_pct=-18.0,
        created_at=dt.datetime(2011, 12, 12, 8, 0, tzinfo=dt.timezone.utc),
        facts=("Week to date: €8,200 of an expected €10,000.",),
        currency="€",
    )


@pytest.fixture
def smtp():
    with SMTPServer() as server:
        yield server


@pytest.fixture
def http():
    with HTTPServer() as server:
        yield server


def email_notifier(port: int, **options) -> EmailNotifier:
    settings = dict(
        security="none",
        sender="salescast@shop.example",
        recipients=["owner@shop.example", "revops@shop.example"],
        timeout=5.0,
    )
    return EmailNotifier("127.0.0.1", port, **{**settings, **options})


# Email


def test_email_arrives_as_multipart_alternative(smtp, message):
    email_notifier(smtp.port).send(message)

    [envelope] = smtp.envelopes
    assert envelope.mail_from == "salescast@shop.example"
    assert envelope.rcpt_tos == ["owner@shop.example", "revops@shop.example"]
    mail = envelope.parse()
    assert mail["Subject"] == "[warning] Sales in store 7 are 18% below forecast this week"
    assert mail["To"] == "owner@shop.example, revops@shop.example"
    assert mail["Message-ID"] == "<store-7_band_2011-12-05_opened@salescast>"
    assert mail["Date"] == "Mon, 12 Dec 2011 08:00:00 +0000"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")
    assert text.strip() == render_text(message)
    assert html.strip() == render_email(message).html.strip()
    assert "€8,200" in text


def test_a_resent_email_keeps_its_message_id(smtp, message):
    notifier = email_notifier(smtp.port)
    notifier.send(message)
    notifier.send(message)
    notifier.send(dataclasses.replace(message, key="store-7/band:2011-12-05 resolved", event="resolved"))
    first, again, other = (mail["Message-ID"] for mail in smtp.messages)
    assert first == again
    assert other != first


@pytest.mark.parametrize("reply, retryable", [("451 4.3.0 Try again later", True), ("550 5.7.1 Rejected", False)])
def test_smtp_error_replies_map_to_delivery_errors(smtp, message, reply, retryable):
    smtp.fail_next(1, reply)
    notifier = email_notifier(smtp.port)
    with pytest.raises(DeliveryError) as caught:
        notifier.send(message)
    assert caught.value.retryable is retryable
    assert reply.split()[0] in str(caught.value)
    assert smtp.envelopes == []
    notifier.send(message)
    assert len(smtp.envelopes) == 1


def test_a_refused_recipient_is_reported(smtp, message):
    smtp.refuse("revops@shop.example", "550 5.1.1 No such user")
    with pytest.raises(DeliveryError) as caught:
        email_notifier(smtp.port).send(message)
    assert caught.value.retryable is False
    assert "revops@shop.example (550 5.1.1 No such user)" in str(caught.value)
    assert [envelope.rcpt_tos for envelope in smtp.envelopes] == [["owner@shop.example"]]


def test_all_recipients_refused_for_now_is_retryable(smtp, message):
    smtp.refuse("owner@shop.example", "450 4.2.1 Mailbox busy")
    smtp.refuse("revops@shop.example", "451 4.3.0 Try later")
    with pytest.raises(DeliveryError) as caught:
        email_notifier(smtp.port).send(message)
    assert caught.value.retryable is True
    assert smtp.envelopes == []


def test_closed_smtp_port_is_retryable(message):
    with pytest.raises(DeliveryError) as caught:
        email_notifier(free_port()).send(message)
    assert caught.value.retryable is True


def test_smtp_login_and_bad_password(message):
    with SMTPServer(credentials=("salescast", PASSWORD)) as smtp:
        email_notifier(smtp.port, username="salescast", password=PASSWORD).send(message)
        assert len(smtp.envelopes) == 1
        with pytest.raises(DeliveryError) as caught:
            email_notifier(smtp.port, username="salescast", password="wrong-" + PASSWORD).send(message)
    assert caught.value.retryable is False
    assert "authentication failed" in str(caught.value)
    assert PASSWORD not in "".join(traceback.format_exception(caught.value))
    assert PASSWORD not in repr(email_notifier(1, username="salescast", password=PASSWORD))


def test_email_notifier_rejects_bad_settings():
    with pytest.raises(ValueError, match="recipient"):
        email_notifier(25, recipients=[])
    with pytest.raises(ValueError, match="security"):
        email_notifier(25, security="tls")


# Slack


def test_slack_posts_block_kit(http, message):
    SlackWebhookNotifier(http.url + WEBHOOK_PATH).send(message)

    [request] = http.requests
    assert request.method == "POST"
    assert request.path == WEBHOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    payload = request.json()
    assert payload["text"].startswith("[warning] Sales in store 7")
    assert payload["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": message.title}}


@pytest.mark.parametrize(
    "reply, retryable, retry_after",
    [
        (Reply(500, "internal_error"), True, None),
        (Reply(503, "service unavailable"), True, None),
        (Reply(429, "rate_limited", {"Retry-After": "7"}), True, 7.0),
        (Reply(400, "invalid_payload"), False, None),
        (Reply(400, "invalid_blocks"), False, None),
        (Reply(404, "no_service"), False, None),
    ],
)
def test_slack_errors_map_to_delivery_errors(http, message, reply, retryable, retry_after):
    http.reply(reply)
    with pytest.raises(DeliveryError) as caught:
        SlackWebhookNotifier(http.url + WEBHOOK_PATH).send(message)
    error = caught.value
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert str(reply.status) in str(error) and reply.body in str(error)
    assert "SECRET" not in str(error)
    assert "127.0.0.1" in str(error)


def test_slack_connection_failures_are_retryable_and_keep_the_url_secret(message):
    url = f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}"
    with pytest.raises(DeliveryError) as caught:
        SlackWebhookNotifier(url).send(message)
    assert caught.value.retryable is True
    assert "SECRET" not in "".join(traceback.format_exception(caught.value))
    assert "SECRET" not in repr(SlackWebhookNotifier(url))


def test_slack_timeout_is_retryable(http, message):
    http.reply(Reply(delay=1.0))
    with pytest.raises(DeliveryError) as caught:
        SlackWebhookNotifier(http.url + WEBHOOK_PATH, timeout=0.2).send(message)
    assert caught.value.retryable is True
    assert "SECRET" not in "".join(traceback.format_exception(caught.value))


# Console, directory, memory


def test_console_prints_the_text_and_a_separator(message):
    stream = io.StringIO()
    ConsoleNotifier(stream).send(message)
    assert stream.getvalue() == f"{render_text(message)}\n{SEPARATOR}\n"


def test_console_writes_to_stdout_by_default(message, capsys):
    ConsoleNotifier().send(message)
    assert capsys.readouterr().out.startswith(message.title)


def test_directory_writes_three_files_idempotently(tmp_path, message):
    folder = tmp_path / "outbox"
    notifier = DirectoryNotifier(folder)
    notifier.send(message)
    notifier.send(message)

    stem = "store-7_band_2011-12-05_opened"
    assert sorted(p.name for p in folder.iterdir()) == [f"{stem}.html", f"{stem}.json", f"{stem}.txt"]
    assert (folder / f"{stem}.txt").read_text(encoding="utf-8").strip() == render_text(message)
    assert (folder / f"{stem}.html").read_text(encoding="utf-8") == render_email(message).html
    record = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
    assert record["subject"] == render_email(message).subject
    assert Message.from_dict({k: v for k, v in record.items() if k != "subject"}) == message


def test_directory_failure_is_a_delivery_error(tmp_path, message):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(DeliveryError):
        DirectoryNotifier(blocker).send(message)


def test_memory_notifier_keeps_messages_and_fails_on_request(message):
    notifier = MemoryNotifier()
    notifier.fail_next(2)
    notifier.fail_next(1, retryable=False)
    outcomes = []
    for _ in range(3):
        with pytest.raises(DeliveryError) as caught:
            notifier.send(message)
        outcomes.append(caught.value.retryable)
    assert outcomes == [True, True, False]
    assert notifier.sent == []
    notifier.send(message)
    assert notifier.sent == [message]
