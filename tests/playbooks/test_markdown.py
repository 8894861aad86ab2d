"""Talk tracks are Markdown rendered through an allow-list: formatting stays, anything active goes."""

from playbooks.markdown import render_markdown


def test_formatting_and_links_are_kept():
    html = render_markdown(
        "**Ask** about *timing*.\n\n- one\n- two\n\n[Battle card](https://example.test/card)"
    )

    assert "<strong>Ask</strong>" in html and "<em>timing</em>" in html and "<li>one</li>" in html
    assert 'href="https://example.test/card"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_scripts_handlers_and_javascript_links_are_removed():
    html = render_markdown(
        '<script>alert(1)</script><img src=x onerror="alert(2)">[click](javascript:alert(3))'
        '<a href="https://ok.test" onclick="alert(4)">ok</a>'
    )

    assert "<script" not in html and "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html and "<img" not in html
    assert 'href="https://ok.test"' in html


def test_empty_text_is_empty():
    assert render_markdown("") == ""
