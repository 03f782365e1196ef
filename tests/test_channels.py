"""Channels against real servers: SMTP with STARTTLS/SSL and an inline chart, Slack webhook and Web API, signed webhooks."""

import dataclasses
import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from servers import HTTPServer, Reply, SMTPServer

from alerts import render
from alerts.channels import SlackChannel
from alerts.compose import sample_message
from alerts.errors import DeliveryError
from alerts.notifiers.directory import DirectoryNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.slack import SlackBotNotifier, SlackWebhookNotifier
from alerts.notifiers.webhook import SCHEMA, WebhookNotifier, signature

SECRET = "whsec-test-5ecret"
TOKEN = "xoxb-test-T0KEN"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def message():
    """An opened incident with four weeks of history (so it has a chart)."""
    sample = sample_message(dt.datetime(2011, 12, 12, 8, tzinfo=dt.timezone.utc), "£")
    return dataclasses.replace(sample, key="total|band|2011-12-05:opened:2011-12-11", event="opened", series_id="total", rule="band", facts=("Week to date: £4,900 of an expected £7,000; on pace for -30%.",))


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: the CA file to trust and a server context."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "salescast test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


def mailer(port, **options):
    defaults = dict(security="none", sender="salescast@shop.test", recipients=["owner@shop.test", "revops@shop.test"], timeout=5.0)
    return EmailNotifier("127.0.0.1", port, **{**defaults, **options})


def inline_parts(mail):
    """The plain part, the HTML part and the image part of a parsed email."""
    parts = {part.get_content_type(): part for part in mail.walk()}
    return parts["text/plain"], parts["text/html"], parts["image/png"]


def check_slack_limits(payload):
    """A Slack payload within the documented Block Kit limits."""
    blocks = payload["blocks"]
    assert len(blocks) <= render.MAX_BLOCKS and len(payload["text"]) <= render.MAX_SECTION_TEXT
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render.MAX_HEADER_TEXT
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= render.MAX_SECTION_TEXT
            assert len(block.get("fields", [])) <= render.MAX_FIELDS
            assert all(len(f["text"]) <= render.MAX_FIELD_TEXT for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= render.MAX_CONTEXT_ELEMENTS


# Email


@pytest.mark.parametrize("security, implicit", [("starttls", False), ("ssl", True)])
def test_email_over_verified_tls_with_login_and_an_inline_chart(tls, message, security, implicit):
    ca_file, context = tls
    with SMTPServer(credentials=("salescast", "pa55"), tls=context, implicit_tls=implicit) as smtp:
        mailer(smtp.port, security=security, ca_file=ca_file, username="salescast", password="pa55").send(message)
        [envelope] = smtp.envelopes
    assert envelope.rcpt_tos == ["owner@shop.test", "revops@shop.test"]
    mail = envelope.parse()
    assert mail.get_content_type() == "multipart/alternative"
    plain, html, image = inline_parts(mail)
    assert plain.get_content().startswith(message.title)
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert image.get_content().startswith(PNG)
    related = next(p for p in mail.walk() if p.get_content_type() == "multipart/related")
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]


def test_an_untrusted_certificate_is_a_permanent_error(tls, message):
    _, context = tls
    with SMTPServer(tls=context) as smtp:
        with pytest.raises(DeliveryError) as caught:
            mailer(smtp.port, security="starttls").send(message)
        assert smtp.envelopes == []
    assert caught.value.retryable is False and "certificate" in str(caught.value)


# Slack


def test_slack_webhook_payload_within_limits(message):
    with HTTPServer() as slack:
        SlackWebhookNotifier(slack.url + "/services/T0/B0/X").send(message)
        [request] = slack.requests
    payload = request.json()
    check_slack_limits(payload)
    assert payload["blocks"][0]["text"]["text"] == message.title


def slack_api(server, uploads):
    """A responder speaking the documented Web API shapes for a bot in channel C42."""

    def answer(request):
        if request.path == "/api/chat.postMessage":
            return Reply(body={"ok": True, "channel": "C42", "ts": "1700000000.000100"})
        if request.path == "/api/files.getUploadURLExternal":
            return Reply(body={"ok": True, "upload_url": f"{server.url}/upload/F42", "file_id": "F42"})
        if request.path == "/upload/F42":
            uploads.append(request.body)
            return Reply(body=f"OK - {len(request.body)}")
        if request.path == "/api/files.completeUploadExternal":
            return Reply(body={"ok": True, "files": [{"id": "F42"}]})
        return Reply(404, "no such method")

    return answer


def test_slack_bot_posts_the_message_then_uploads_the_chart(message):
    uploads = []
    with HTTPServer() as slack:
        slack.respond(slack_api(slack, uploads))
        SlackBotNotifier(TOKEN, "C42", api_url=slack.url + "/api", timeout=5).send(message)
        requests = slack.requests
    assert [r.path for r in requests] == ["/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/F42", "/api/files.completeUploadExternal"]
    post, ticket, upload, complete = requests
    for call in (post, ticket, complete):
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in upload.headers
    payload = post.json()
    assert post.headers["Content-Type"].startswith("application/json")
    assert payload["channel"] == "C42" and payload["blocks"][0]["type"] == "header"
    check_slack_limits(payload)
    form = dict(urllib.parse.parse_qsl(ticket.body.decode()))
    mime = email.message_from_bytes(f"Content-Type: {upload.headers['Content-Type']}\r\n\r\n".encode() + uploads[0], policy=email.policy.default)
    [part] = mime.iter_parts()
    png = part.get_content()
    assert png.startswith(PNG) and int(form["length"]) == len(png) and form["filename"].endswith(".png")
    assert complete.json() == {"files": [{"id": "F42", "title": message.title}], "channel_id": "C42"}


@pytest.mark.parametrize(
    "reply, retryable, retry_after",
    [
        (Reply(body={"ok": False, "error": "ratelimited"}), True, None),
        (Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}), True, 3.0),
        (Reply(500, "oops"), True, None),
        (Reply(body={"ok": False, "error": "internal_error"}), True, None),
        (Reply(body={"ok": False, "error": "invalid_auth"}), False, None),
        (Reply(body={"ok": False, "error": "channel_not_found"}), False, None),
        (Reply(body={"ok": False, "error": "not_in_channel"}), False, None),
    ],
)
def test_slack_api_errors_map_to_delivery_errors(message, reply, retryable, retry_after):
    with HTTPServer() as slack:
        slack.reply(reply)
        with pytest.raises(DeliveryError) as caught:
            SlackBotNotifier(TOKEN, "C42", api_url=slack.url + "/api", timeout=5).send(message)
    assert (caught.value.retryable, caught.value.retry_after) == (retryable, retry_after)
    assert TOKEN not in str(caught.value)


def test_a_failed_chart_upload_does_not_fail_the_posted_message(message, caplog):
    with HTTPServer() as slack:
        slack.reply(Reply(body={"ok": True, "ts": "1.2"}), Reply(body={"ok": False, "error": "missing_scope"}))
        SlackBotNotifier(TOKEN, "C42", api_url=slack.url + "/api", timeout=5).send(message)
        assert len(slack.requests) == 2
    assert "missing_scope" in caplog.text


def test_slack_channel_needs_exactly_one_way_in():
    with pytest.raises(ValueError, match="exactly one"):
        SlackChannel(kind="slack")
    with pytest.raises(ValueError, match="channel_id"):
        SlackChannel(kind="slack", token=TOKEN)
    assert isinstance(SlackChannel(kind="slack", token=TOKEN, channel_id="C42").create(), SlackBotNotifier)


# Webhook


def verified(request, secret=SECRET, now=None, tolerance=300):
    """What a receiver does: check the timestamp is fresh and the signature matches the raw body."""
    stamp = request.headers["X-Salescast-Timestamp"]
    fresh = abs((now or time.time()) - int(stamp)) <= tolerance
    return fresh and request.headers["X-Salescast-Signature"] == signature(secret, stamp, request.body)


def test_webhook_is_signed_versioned_and_keyed(message):
    with HTTPServer() as receiver:
        WebhookNotifier(receiver.url + "/hooks/salescast", SECRET, timeout=5).send(message)
        [request] = receiver.requests
    assert verified(request)
    assert not verified(request, secret="other")
    assert not verified(request, now=time.time() + 3600), "an old request replayed later is refused"
    assert request.headers["Idempotency-Key"] == message.key
    body = request.json()
    assert body["schema"] == SCHEMA == "salescast.alert/v1.2"
    assert (body["key"], body["event"], body["severity"], body["series_id"]) == (message.key, "opened", "warning", "total")
    assert body["period"] == {"start": message.period_start.isoformat(), "end": message.period_end.isoformat()}
    assert body["labels"] == {"actual": "actual", "expected": "expected"}
    assert len(body["history"]) == 28 and set(body["history"][0]) == {"date", "actual", "expected", "lower", "upper"}
    tampered = dataclasses.replace(request, body=request.body.replace(b"total", b"t0tal"))
    assert not verified(tampered)


@pytest.mark.parametrize("reply, retryable", [(Reply(503), True), (Reply(429, headers={"Retry-After": "2"}), True), (Reply(400), False), (Reply(410), False)])
def test_webhook_errors(message, reply, retryable):
    with HTTPServer() as receiver:
        receiver.reply(reply)
        with pytest.raises(DeliveryError) as caught:
            WebhookNotifier(receiver.url + "/hook?token=SECRETQUERY", SECRET, timeout=5).send(message)
    assert caught.value.retryable is retryable
    assert "SECRETQUERY" not in str(caught.value) and SECRET not in str(caught.value)


def test_directory_keeps_the_chart_beside_the_message(tmp_path, message):
    DirectoryNotifier(tmp_path).send(message)
    stem = "total_band_2011-12-05_opened_2011-12-11"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.{ext}" for ext in ("html", "json", "png", "txt")]
    assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG)
    assert json.loads((tmp_path / f"{stem}.json").read_text())["history"][0]["ds"] == message.history[0].ds.isoformat()


def test_webhook_carries_the_decomposition_as_numbers(message):
    with HTTPServer() as receiver:
        WebhookNotifier(receiver.url + "/hook", SECRET, timeout=5).send(message)
        body = receiver.requests[0].json()
    why, expected = body["decomposition"], message.decomposition
    assert (why["orders_change"], why["basket_change"], why["actual_orders"]) == (expected.orders_change, expected.basket_change, expected.actual_orders)
    assert (1 + why["orders_change"]) * (1 + why["basket_change"]) == pytest.approx(1 + why["change"])
    assert why["reference"] == "the same days of the previous 4 weeks"
    assert [(s["dimension"], s["value"]) for s in why["segments"]] == [("country", "United Kingdom"), ("country", "Germany"), ("country", "France")]
    assert set(why["segments"][0]) == {"dimension", "value", "expected", "actual", "change", "share"}
    assert "Why:" in body["text"]
