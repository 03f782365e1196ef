import dataclasses
import datetime as dt
import html.parser
import json

import pytest

from alerts import render
from alerts.message import Decomposition, Message, SegmentShare
from alerts.render import TemplateError, explanation, format_amount, format_period, render_email, render_slack, render_text


@pytest.fixture
def opened() -> Message:
    return Message(
        key="store-7:band:2011-12-05:opened",
        event="opened",
        series_id="country=DE",
        rule="band",
        severity="critical",
        title="Sales in Germany are 23% below forecast this week",
        period_start=dt.date(2011, 12, 5),
        period_end=dt.date(2011, 12, 11),
        actual=41200.0,
        expected=53500.0,
        lower=48000.0,
        upper=59000.0,
        deviation_pct=-22.99,
        created_at=dt.datetime(2011, 12, 12, 8, 0, tzinfo=dt.timezone.utc),
        facts=("Week to date: £41,200 of an expected £53,500.",),
        link="https://salescast.example/incidents/7?tab=chart&range=6w",
        currency="£",
    )


@pytest.fixture
def resolved(opened: Message) -> Message:
    return dataclasses.replace(
        opened,
        key="store-7:band:2011-12-05:resolved",
        event="resolved",
        severity="info",
        title="Sales in Germany are back within the expected range",
        period_start=dt.date(2011, 12, 19),
        period_end=dt.date(2011, 12, 19),
        actual=7950.0,
        expected=8100.0,
        lower=7000.0,
        upper=9300.0,
        deviation_pct=-1.85,
        facts=("The incident opened on Mon 05 Dec 2011 is resolved.",),
    )


HOSTILE = "<script>alert(1)</script> & Co"


class _Visible(html.parser.HTMLParser):
    """Collects text and <script> tags as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def test_amounts_and_periods_read_naturally():
    assert format_amount(41200, "£") == "£41,200"
    assert format_amount(1234567.89, "$") == "$1,234,568"
    assert format_amount(12.5, "€") == "€12.50"
    assert format_amount(-250, "£") == "-£250"
    assert format_amount(float("nan"), "£") == "n/a"
    assert format_period(dt.date(2011, 12, 5), dt.date(2011, 12, 5)) == "Mon 5 Dec 2011"
    assert format_period(dt.date(2011, 12, 5), dt.date(2011, 12, 11)) == "5–11 Dec 2011"
    assert format_period(dt.date(2011, 11, 28), dt.date(2011, 12, 4)) == "28 Nov – 4 Dec 2011"
    assert format_period(dt.date(2011, 12, 26), dt.date(2012, 1, 1)) == "26 Dec 2011 – 1 Jan 2012"


def test_text_of_an_opened_incident(opened):
    text = render_text(opened)
    lines = text.splitlines()
    assert lines[0] == opened.title
    assert "Actual £41,200 vs expected £53,500 (range £48,000–£59,000)" in lines
    assert "Period: 5–11 Dec 2011" in lines
    assert "Deviation: -23.0%" in lines
    assert "Severity: critical" in lines
    assert "- Week to date: £41,200 of an expected £53,500." in lines
    assert f"Details: {opened.link}" in lines


def test_labels_name_the_figures_and_messages_stored_without_them_read_as_sales(opened):
    quota = dataclasses.replace(opened, labels=("projected", "quota"))
    assert "Projected £41,200 vs quota £53,500" in render_text(quota)
    fields = render_slack(quota)["blocks"][1]["fields"]
    assert fields[0]["text"].startswith("*Projected*") and fields[1]["text"].startswith("*Quota*")
    stored = {k: v for k, v in opened.to_dict().items() if k != "labels"}
    assert Message.from_dict(stored).labels == ("actual", "expected")


def test_text_of_a_resolved_incident_reads_as_a_recovery(resolved):
    text = render_text(resolved)
    assert text.startswith("Sales in Germany are back within the expected range")
    assert "Actual £7,950 vs expected £8,100" in text
    assert "Period: Mon 19 Dec 2011" in text
    for word in ("below forecast", "drop", "shortfall", "critical"):
        assert word not in text.lower()


def test_text_of_a_test_message_says_so(opened):
    text = render_text(dataclasses.replace(opened, event="test", facts=(), link=None))
    assert "This is a test message" in text
    assert "Details:" not in text
    assert "test message" not in render_text(opened)


def test_text_without_bounds_leaves_the_range_out(opened):
    text = render_text(dataclasses.replace(opened, lower=float("nan"), upper=float("nan")))
    assert "Actual £41,200 vs expected £53,500\n" in text
    assert "(range" not in text


def test_slack_payload_shape(opened):
    payload = render_slack(opened)
    json.dumps(payload)
    assert opened.title in payload["text"]
    header, fields, facts, context, actions = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": opened.title}}
    assert [f["type"] for f in fields["fields"]] == ["mrkdwn"] * 5
    assert [f["text"] for f in fields["fields"]][:4] == [
        "*Actual*\n£41,200",
        "*Expected*\n£53,500",
        "*Range*\n£48,000–£59,000",
        "*Period*\n5–11 Dec 2011",
    ]
    assert facts["text"]["text"] == "• Week to date: £41,200 of an expected £53,500."
    assert context["type"] == "context"
    assert "critical" in context["elements"][0]["text"]
    assert actions["elements"][0]["url"] == opened.link


def test_slack_resolved_and_test_messages(resolved, opened):
    resolved_blocks = render_slack(resolved)["blocks"]
    context = next(block for block in resolved_blocks if block["type"] == "context")
    assert context["elements"][0]["text"] == ":white_check_mark: resolved"
    test_payload = render_slack(dataclasses.replace(opened, event="test"))
    assert test_payload["text"].startswith("[test] ")
    assert "*test message*" in test_payload["blocks"][1]["text"]["text"]


def test_slack_escapes_user_text_for_mrkdwn(opened):
    hostile = dataclasses.replace(opened, series_id=HOSTILE, facts=(HOSTILE,), rule="a<b>c")
    payload = render_slack(hostile)
    mrkdwn = [
        obj["text"]
        for block in payload["blocks"]
        for obj in block.get("fields", []) + block.get("elements", []) + [block.get("text", {})]
        if obj.get("type") == "mrkdwn"
    ]
    joined = "\n".join(mrkdwn)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in joined
    assert "rule a&lt;b&gt;c" in joined
    assert "<" not in joined and ">" not in joined
    assert "<" not in payload["text"]


def test_slack_limits_hold_for_a_huge_message(opened):
    huge = dataclasses.replace(
        opened,
        title="Sales & more " * 40,
        series_id="s" * 5000,
        facts=tuple(f"{i}: " + "<&>" * 166 for i in range(200)),
        currency="£" * 3000,
        link="https://salescast.example/" + "x" * 4000,
    )
    payload = render_slack(huge)
    blocks = payload["blocks"]
    assert len(blocks) <= render.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= render.MAX_HEADER_TEXT
            assert block["text"]["text"].endswith("…")
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= render.MAX_SECTION_TEXT
        if block["type"] == "section" and "fields" in block:
            assert len(block["fields"]) <= render.MAX_FIELDS
            assert all(len(f["text"]) <= render.MAX_FIELD_TEXT for f in block["fields"])
        if block["type"] == "context":
            assert len(block["elements"]) <= render.MAX_CONTEXT_ELEMENTS
            assert all(len(e["text"]) <= render.MAX_SECTION_TEXT for e in block["elements"])
        if block["type"] == "actions":
            assert all(len(e["url"]) <= render.MAX_BUTTON_URL for e in block["elements"])
    facts = next(b for b in blocks if b["type"] == "section" and b.get("text", {}).get("text", "").startswith("• 0:"))
    # Truncation never leaves half an entity such as "&am" behind.
    body = facts["text"]["text"].removesuffix("…")
    assert body.rsplit("&", 1)[1].startswith(("amp;", "lt;", "gt;"))
    assert len(payload["text"]) <= render.MAX_SECTION_TEXT


def test_email_subject_text_and_html(opened):
    content = render_email(opened)
    assert content.subject == "[critical] Sales in Germany are 23% below forecast this week"
    assert content.text == render_text(opened)
    assert "max-width:600px" in content.html
    assert "#c62828" in content.html
    visible = _Visible()
    visible.feed(content.html)
    text = " ".join(visible.text)
    for expected in (opened.title, "£41,200", "£53,500", "£48,000–£59,000", "5–11 Dec 2011", opened.facts[0]):
        assert expected in text
    assert 'href="https://salescast.example/incidents/7?tab=chart&amp;range=6w"' in content.html


def test_email_of_resolved_and_test_messages(resolved, opened):
    recovered = render_email(resolved)
    assert recovered.subject.startswith("[resolved] ")
    assert "#2e7d32" in recovered.html and "#c62828" not in recovered.html
    test = render_email(dataclasses.replace(opened, event="test"))
    assert test.subject.startswith("[test] ")
    assert "This is a test message" in test.html


def test_email_html_escapes_every_user_string(opened):
    hostile = dataclasses.replace(
        opened, title=HOSTILE, series_id=HOSTILE, rule=HOSTILE, facts=(HOSTILE,), currency="<b>", link='x" onclick="y'
    )
    content = render_email(hostile)
    visible = _Visible()
    visible.feed(content.html)
    assert visible.scripts == 0
    assert "<b>" not in content.html
    assert 'onclick="y' not in content.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in content.html
    assert HOSTILE in " ".join(visible.text)
    assert HOSTILE in content.text  # plain text is not HTML: shown as written


def test_subject_is_one_line(opened):
    content = render_email(dataclasses.replace(opened, title="Sales\r\nBcc: everyone@example.com"))
    assert "\n" not in content.subject and "\r" not in content.subject


def test_template_directory_overrides_built_in_templates(opened, tmp_path):
    (tmp_path / "message.txt.j2").write_text("ALERT {{ message.series_id }}: {{ actual }} / {{ expected }}\n")
    assert render_text(opened, templates=tmp_path) == "ALERT country=DE: £41,200 / £53,500"
    content = render_email(opened, templates=tmp_path)
    assert content.text.startswith("ALERT country=DE")
    assert "max-width:600px" in content.html  # not overridden: the built-in one is used


def test_broken_override_is_a_permanent_template_error(opened, tmp_path):
    (tmp_path / "message.txt.j2").write_text("{{ message.no_such_field }}")
    with pytest.raises(TemplateError) as caught:
        render_text(opened, templates=tmp_path)
    assert caught.value.retryable is False
    assert "message.txt.j2" in str(caught.value)


# Why it fired


@pytest.fixture
def explained(opened: Message) -> Message:
    """Germany 23% down: 20% fewer orders, baskets 4% smaller; two cities behind most of it."""
    why = Decomposition(
        actual=41200.0, expected=53500.0, reference="the same days of the previous 4 weeks",
        orders_change=412 / 515 - 1, basket_change=(41200 / 412) / (53500 / 515) - 1,
        actual_orders=412, expected_orders=515.0, actual_aov=100.0, reference_aov=53500 / 515,
        segments=(SegmentShare("city", "Berlin", 20000.0, 12400.0, 0.62), SegmentShare("city", "Köln", 6000.0, 4300.0, 0.14)),
    )
    return dataclasses.replace(opened, decomposition=why)


def test_why_reads_as_orders_basket_and_segments(explained):
    assert explanation(explained) == [
        "Orders -20%, basket -4%: 412 orders of an expected 515, £100 per order against a usual £104 (the same days of the previous 4 weeks).",
        "Biggest shortfalls by city: Berlin -£7,600 (62% of the shortfall), Köln -£1,700 (14%).",
    ]
    text = render_text(explained)
    assert "\nWhy:\n- Orders -20%, basket -4%: " in text and "\n- Biggest shortfalls by city: Berlin" in text
    assert render_slack(explained)["text"].endswith("vs expected £53,500 (orders -20%, basket -4%)"), "the phone notification says why"
    [why] = [b for b in render_slack(explained)["blocks"] if b.get("text", {}).get("text", "").startswith("*Why*")]
    assert "• Orders -20%, basket -4%" in why["text"]["text"] and "Berlin -£7,600" in why["text"]["text"]
    visible = _Visible()
    visible.feed(render_email(explained).html)
    assert "Why" in visible.text and any(t.startswith("Biggest shortfalls by city") for t in visible.text)


def test_without_a_decomposition_there_is_no_why(opened, resolved):
    for message in (opened, resolved):
        assert explanation(message) == [] and "Why" not in render_text(message) and "Why" not in render_email(message).html
        assert not any("*Why*" in json.dumps(b) for b in render_slack(message)["blocks"])


def test_segment_names_are_escaped_in_every_channel(explained):
    hostile = dataclasses.replace(
        explained, decomposition=dataclasses.replace(explained.decomposition, segments=(SegmentShare("city", HOSTILE, 20000.0, 12400.0, 0.7),))
    )
    html = render_email(hostile).html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co -£7,600" in html
    slack = json.dumps(render_slack(hostile), ensure_ascii=False)
    assert "<script>" not in slack and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; Co" not in slack
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co -£7,600" in slack


def test_an_order_count_series_speaks_in_orders(explained):
    counts = dataclasses.replace(
        explained, metric="orders", currency="",
        decomposition=dataclasses.replace(explained.decomposition, orders_change=None, basket_change=None, segments=(SegmentShare("city", "Berlin", 300.0, 220.0, 0.8),)),
    )
    assert explanation(counts) == ["Biggest shortfalls by city: Berlin -80 orders (80% of the shortfall)."]


def test_a_stored_message_keeps_its_decomposition_and_older_ones_still_load(explained, opened):
    assert Message.from_dict(json.loads(json.dumps(explained.to_dict()))) == explained
    older = opened.to_dict()
    del older["decomposition"]
    assert Message.from_dict(older) == opened
