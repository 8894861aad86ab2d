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


def days_chart(boxes: list[dict], stages: list[dict] | None = None) -> SafeString:
    """Days in stage per stage as a box plot over the deals that left it (iteration.trends'
    distribution): whiskers from p10 to p90, the box from the first to the third quartile, a line at the
    median; a dot at the Kaplan–Meier median of the metrics (open deals counted as censored) and the
    stall threshold as a dashed mark, when `stages` (the metrics' stage rows) are given."""
    by_id = {s["stage_id"]: s for s in stages or []}
    values = [
        v
        for b in boxes
        for v in (
            b["p90"],
            b["q3"],
            (by_id.get(b["stage_id"]) or {}).get("threshold_days"),
            ((by_id.get(b["stage_id"]) or {}).get("days_in_stage") or {}).get("km_median"),
        )
        if v is not None
    ]
    top = max(values, default=10) * 1.1 or 10
    height = _PAD_TOP + _ROW_H * max(1, len(boxes)) + _PAD_BOTTOM
    width = _LABEL_W + _PLOT_W + 130

    def scale(days: float) -> float:
        return min(days, top) / top * _PLOT_W

    parts = [
        f'<text x="{_LABEL_W}" y="12" font-weight="600">Days in stage: p10–p90 whiskers, quartile box, median '
        "line</text>"
        f'<text x="{_LABEL_W}" y="26" fill="#495057" font-size="11">Dot: Kaplan–Meier median (open deals '
        "censored) · dashed: stall threshold</text>"
    ]
    for i, b in enumerate(boxes):
        y = _PAD_TOP + i * _ROW_H
        ym = y + _ROW_H / 2
        n = b["n"]
        small = n < SMALL_SAMPLE
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 19}" text-anchor="end" fill="#212529">{_e(b["stage"])}</text>'
        )
        if b["median"] is None:
            parts.append(
                f'<text x="{_LABEL_W + 4}" y="{y + 19}" fill="#6c757d">no deal has left it yet</text>'
            )
            continue
        x = {k: _LABEL_W + scale(b[k]) for k in ("p10", "q1", "median", "q3", "p90")}
        opacity = 0.45 if small else 0.85
        parts.append(
            f'<g stroke="#212529" stroke-width="1.2" opacity="{opacity}">'
            f'<line x1="{x["p10"]:.1f}" y1="{ym}" x2="{x["q1"]:.1f}" y2="{ym}"/>'
            f'<line x1="{x["q3"]:.1f}" y1="{ym}" x2="{x["p90"]:.1f}" y2="{ym}"/>'
            f'<line x1="{x["p10"]:.1f}" y1="{ym - 5}" x2="{x["p10"]:.1f}" y2="{ym + 5}"/>'
            f'<line x1="{x["p90"]:.1f}" y1="{ym - 5}" x2="{x["p90"]:.1f}" y2="{ym + 5}"/></g>'
        )
        parts.append(
            f'<rect x="{x["q1"]:.1f}" y="{y + 7}" width="{max(2.0, x["q3"] - x["q1"]):.1f}" '
            f'height="{_ROW_H - 14}" fill="#20c997" stroke="#0f5132" opacity="{opacity}" '
            f'data-stage="{_e(b["stage"])}"{_SMALL_ATTR if small else ""}><title>{_e(b["stage"])}: median '
            f"{b['median']:g} d, quartiles {b['q1']:g}–{b['q3']:g} d, p10–p90 {b['p10']:g}–{b['p90']:g} d, "
            f"over {n} deals</title></rect>"
        )
        parts.append(
            f'<line x1="{x["median"]:.1f}" y1="{y + 7}" x2="{x["median"]:.1f}" y2="{y + _ROW_H - 7}" '
            'stroke="#0f5132" stroke-width="2.5"/>'
        )
        metrics = by_id.get(b["stage_id"]) or {}
        km = (metrics.get("days_in_stage") or {}).get("km_median")
        if km is not None:
            parts.append(f'<circle cx="{_LABEL_W + scale(km):.1f}" cy="{ym}" r="4" fill="#6f42c1"/>')
        if metrics.get("threshold_days"):
            xt = _LABEL_W + scale(metrics["threshold_days"])
            parts.append(
                f'<line x1="{xt:.1f}" y1="{y + 3}" x2="{xt:.1f}" y2="{y + _ROW_H - 3}" stroke="#dc3545" '
                'stroke-dasharray="3 2"/>'
            )
        note = f"{b['median']:g} d · n={n}" + (" · small sample" if small else "")
        parts.append(
            f'<text x="{_LABEL_W + _PLOT_W + 6}" y="{y + 19}" fill="{"#6c757d" if small else "#212529"}" '
            f'font-size="11">{_e(note)}</text>'
        )
    axis_y = _PAD_TOP + _ROW_H * max(1, len(boxes)) + 4
    step = max(1, round(top / 5))
    ticks = [(v, f"{v:g}") for v in range(0, int(top) + 1, step)]
    parts.append(_x_axis(_LABEL_W, axis_y, _PLOT_W, ticks, "Days in stage", scale))
    return _svg(width, height, "Days in stage per stage (box plot)", "".join(parts))


def _anchor(i: int, count: int) -> str:
    """Edge labels hang inward so they stay inside the chart."""
    if count > 1 and i == 0:
        return "start"
    if count > 1 and i == count - 1:
        return "end"
    return "middle"


def monthly_chart(trend: dict) -> SafeString:
    """Conversion by month of first entry for ONE stage (the first of `trend["stages"]`): a line over the
    months, y 0–100%, with each month's 95% interval as a whisker. Months with no resolved deal leave a
    gap; points resting on fewer than SMALL_SAMPLE resolved deals are hollow and their whiskers faint.
    The insights page draws one such chart per stage (small multiples), all on the same axes."""
    months = trend["months"]
    stage = trend["stages"][0] if trend["stages"] else None
    title = f"{stage['stage']}: conversion by month of entry" if stage else "Conversion by month"
    left, top_pad, plot_w, plot_h = 40, 26, 300, 110
    width, height = left + plot_w + 30, top_pad + plot_h + 44
    parts = [f'<text x="{width / 2:.1f}" y="14" text-anchor="middle" font-weight="600">{_e(title)}</text>']
    if not months or stage is None:
        parts.append(f'<text x="{left}" y="{top_pad + 20}" fill="#6c757d">No stage entries yet.</text>')
        return _svg(width, top_pad + 40, title, "".join(parts))

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / len(months))

    def py(rate: float) -> float:
        return top_pad + plot_h * (1 - rate)

    for t in (0, 50, 100):
        yy = py(t / 100)
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        parts.append(f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end" fill="#495057">{t}%</text>')
    shown = sorted({0, len(months) - 1, (len(months) - 1) // 2})
    for i in shown:
        parts.append(
            f'<text x="{px(i):.1f}" y="{top_pad + plot_h + 14}" text-anchor="{_anchor(i, len(months))}" '
            f'fill="#495057">{_e(months[i])}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top_pad + plot_h + 32}" text-anchor="middle" fill="#212529">'
        "Month of first entry · Conversion</text>"
    )
    segments, current = [], []
    for i, point in enumerate(stage["points"]):
        if point["rate"] is None:
            if current:
                segments.append(current)
            current = []
            continue
        x, y = px(i), py(point["rate"])
        current.append((x, y))
        small = point["small_sample"]
        if point.get("ci"):
            lo, hi = py(point["ci"][0]), py(point["ci"][1])
            parts.append(
                f'<line x1="{x:.1f}" y1="{hi:.1f}" x2="{x:.1f}" y2="{lo:.1f}" stroke="#0072B2" '
                f'stroke-opacity="{0.2 if small else 0.6}"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{"#fff" if small else "#0072B2"}" stroke="#0072B2"'
            f"{_SMALL_ATTR if small else ''}><title>{_e(stage['stage'])}, {_e(point['month'])}: "
            f"{point['rate'] * 100:.0f}% of {point['resolved']} resolved"
            f"{' (small sample)' if small else ''}</title></circle>"
        )
    if current:
        segments.append(current)
    for seg in segments:
        if len(seg) > 1:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            parts.append(f'<polyline points="{points}" fill="none" stroke="#0072B2" stroke-width="1.6"/>')
    return _svg(width, height, title, "".join(parts))
