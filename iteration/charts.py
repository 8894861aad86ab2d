"""Server-rendered SVG charts for the insights page: no JavaScript, no CDN, readable without colour.

Every chart has a title, labelled axes and a table view of the same numbers beside it (in the template).
Every piece of text is escaped. Stages whose numbers rest on fewer than SMALL_SAMPLE deals are drawn
faded and hatched and labelled "small sample", so they are not read as facts."""

from html import escape

from django.utils.safestring import SafeString, mark_safe

SMALL_SAMPLE = 30
_SMALL_ATTR = ' data-small-sample="1"'
_LABEL_W = 170
_ROW_H = 30
_PLOT_W = 420
_PAD_TOP = 34
_PAD_BOTTOM = 46

_HATCH = (
    '<defs><pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#cfe2ff"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#6ea8fe" stroke-width="2"/></pattern></defs>'
)


def _e(text) -> str:
    return escape(str(text), quote=True)


def _svg(width: int, height: int, title: str, body: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every piece of text in `body` and `title` is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{_e(title)}" class="insight-chart" font-family="system-ui, sans-serif" '
        f'font-size="12"><title>{_e(title)}</title>{body}</svg>'
    )


def _x_axis(x0: int, y: int, width: int, ticks: list[tuple[float, str]], label: str, scale) -> str:
    parts = [f'<line x1="{x0}" y1="{y}" x2="{x0 + width}" y2="{y}" stroke="#6c757d"/>']
    for value, text in ticks:
        x = x0 + scale(value)
        parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#6c757d"/>')
        parts.append(f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle" fill="#495057">{_e(text)}</text>')
    parts.append(
        f'<text x="{x0 + width / 2:.1f}" y="{y + 34}" text-anchor="middle" fill="#212529" '
        f'font-weight="600">{_e(label)}</text>'
    )
    return "".join(parts)


def funnel_chart(stages: list[dict], *, chart_id: str = "funnel") -> SafeString:
    """Conversion per stage as horizontal bars with 95% interval whiskers (x: 0–100%)."""
    height = _PAD_TOP + _ROW_H * max(1, len(stages)) + _PAD_BOTTOM
    width = _LABEL_W + _PLOT_W + 90
    hatch_id = f"{chart_id}-small"

    def scale(fraction: float) -> float:
        return fraction * _PLOT_W

    parts = [
        _HATCH.format(id=hatch_id),
        f'<text x="{_LABEL_W}" y="18" font-weight="600">Conversion to a later stage or a win, with 95% interval</text>',
    ]
    for i, s in enumerate(stages):
        y = _PAD_TOP + i * _ROW_H
        resolved = s["advanced"] + s["dropped"]
        small = resolved < SMALL_SAMPLE
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 19}" text-anchor="end" fill="#212529">{_e(s["stage"])}</text>'
        )
        rate = s["conversion_rate"]
        if rate is None:
            parts.append(f'<text x="{_LABEL_W + 4}" y="{y + 19}" fill="#6c757d">no resolved deals yet</text>')
            continue
        fill = f"url(#{hatch_id})" if small else "#0d6efd"
        opacity = ' opacity="0.75"' if small else ""
        parts.append(
            f'<rect x="{_LABEL_W}" y="{y + 6}" width="{scale(rate):.1f}" height="{_ROW_H - 12}" '
            f'fill="{fill}"{opacity} data-stage="{_e(s["stage"])}"'
            f"{_SMALL_ATTR if small else ''}>"
            f"<title>{_e(s['stage'])}: {rate * 100:.1f}% of {resolved} resolved</title></rect>"
        )
        ci = s["conversion_ci"]
        if ci:
            x1, x2, ym = _LABEL_W + scale(ci[0]), _LABEL_W + scale(ci[1]), y + _ROW_H / 2
            parts.append(
                f'<g stroke="#212529" stroke-width="1.5"><line x1="{x1:.1f}" y1="{ym}" x2="{x2:.1f}" y2="{ym}"/>'
                f'<line x1="{x1:.1f}" y1="{ym - 5}" x2="{x1:.1f}" y2="{ym + 5}"/>'
                f'<line x1="{x2:.1f}" y1="{ym - 5}" x2="{x2:.1f}" y2="{ym + 5}"/></g>'
            )
        note = f"{rate * 100:.0f}% · n={resolved}" + (" · small sample" if small else "")
        parts.append(
            f'<text x="{_LABEL_W + _PLOT_W + 6}" y="{y + 19}" fill="{"#6c757d" if small else "#212529"}" '
            f'font-size="11">{_e(note)}</text>'
        )
    axis_y = _PAD_TOP + _ROW_H * max(1, len(stages)) + 4
    parts.append(
        _x_axis(
            _LABEL_W, axis_y, _PLOT_W, [(t / 100, f"{t}%") for t in range(0, 101, 25)], "Conversion", scale
        )
    )
    return _svg(width, height, "Funnel: conversion per stage with 95% intervals", "".join(parts))


def days_chart(stages: list[dict]) -> SafeString:
    """Days in stage per stage: a bar from the median to p90, a tick at p75, a dot at the Kaplan–Meier
    median (open deals counted as censored), and the expected days as a dashed mark."""
    values = [
        v
        for s in stages
        for v in (
            *(s["days_in_stage"][k] for k in ("median", "p75", "p90", "km_median")),
            s.get("threshold_days"),
        )
        if v is not None
    ]
    top = max(values, default=10) * 1.1 or 10
    height = _PAD_TOP + _ROW_H * max(1, len(stages)) + _PAD_BOTTOM
    width = _LABEL_W + _PLOT_W + 90

    def scale(days: float) -> float:
        return days / top * _PLOT_W

    parts = [
        f'<text x="{_LABEL_W}" y="18" font-weight="600">Days in stage: median to p90 (bar), p75 (tick), '
        "Kaplan–Meier median (dot), expected (dashed)</text>"
    ]
    for i, s in enumerate(stages):
        y = _PAD_TOP + i * _ROW_H
        d = s["days_in_stage"]
        n = d.get("n") or 0
        small = n < SMALL_SAMPLE
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 19}" text-anchor="end" fill="#212529">{_e(s["stage"])}</text>'
        )
        if d["median"] is None:
            parts.append(
                f'<text x="{_LABEL_W + 4}" y="{y + 19}" fill="#6c757d">no deal has left it yet</text>'
            )
            continue
        x_med = _LABEL_W + scale(d["median"])
        x_p90 = _LABEL_W + scale(d["p90"] if d["p90"] is not None else d["median"])
        parts.append(
            f'<rect x="{x_med:.1f}" y="{y + 8}" width="{max(2.0, x_p90 - x_med):.1f}" height="{_ROW_H - 16}" '
            f'fill="#20c997" opacity="{0.45 if small else 0.85}"'
            f"{_SMALL_ATTR if small else ''}><title>{_e(s['stage'])}: median "
            f"{d['median']} d, p75 {d['p75']} d, p90 {d['p90']} d over {n} deals</title></rect>"
        )
        if d["p75"] is not None:
            x = _LABEL_W + scale(d["p75"])
            parts.append(
                f'<line x1="{x:.1f}" y1="{y + 5}" x2="{x:.1f}" y2="{y + _ROW_H - 5}" stroke="#212529"/>'
            )
        if d["km_median"] is not None:
            x = _LABEL_W + scale(d["km_median"])
            parts.append(f'<circle cx="{x:.1f}" cy="{y + _ROW_H / 2}" r="4" fill="#6f42c1"/>')
        if s.get("threshold_days"):
            x = _LABEL_W + scale(s["threshold_days"])
            parts.append(
                f'<line x1="{x:.1f}" y1="{y + 3}" x2="{x:.1f}" y2="{y + _ROW_H - 3}" stroke="#dc3545" '
                'stroke-dasharray="3 2"/>'
            )
        note = f"{d['median']:g} d · n={n}" + (" · small sample" if small else "")
        parts.append(
            f'<text x="{_LABEL_W + _PLOT_W + 6}" y="{y + 19}" fill="{"#6c757d" if small else "#212529"}" '
            f'font-size="11">{_e(note)}</text>'
        )
    axis_y = _PAD_TOP + _ROW_H * max(1, len(stages)) + 4
    step = max(1, round(top / 5))
    ticks = [(v, f"{v:g}") for v in range(0, int(top) + 1, step)]
    parts.append(_x_axis(_LABEL_W, axis_y, _PLOT_W, ticks, "Days in stage", scale))
    return _svg(width, height, "Days in stage per stage", "".join(parts))
