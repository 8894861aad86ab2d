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
    width = _LABEL_W + _PLOT_W + 90

    def scale(days: float) -> float:
        return min(days, top) / top * _PLOT_W

    parts = [
        f'<text x="{_LABEL_W}" y="18" font-weight="600">Days in stage: p10–p90 (whiskers), quartiles (box), '
        "median (line), Kaplan–Meier median (dot), threshold (dashed)</text>"
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


# One colour per stage line, distinguishable for common colour-vision deficiencies (Okabe–Ito).
_LINE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"]
_DASHES = ["", "6 3", "2 3", "8 3 2 3"]


def monthly_chart(trend: dict) -> SafeString:
    """Conversion by month of first entry, one line per stage (colour and dash pattern), y: 0–100%.
    Months with no resolved deal leave a gap; points resting on fewer than SMALL_SAMPLE resolved deals
    are hollow."""
    months = trend["months"]
    plot_h = 220
    left, top_pad, width = 48, 30, _LABEL_W + _PLOT_W + 90
    plot_w = width - left - 20
    legend_rows = (len(trend["stages"]) + 3) // 4
    height = top_pad + plot_h + 48 + 18 * legend_rows
    parts = [f'<text x="{left}" y="18" font-weight="600">Conversion by month of stage entry</text>']
    if not months:
        parts.append(f'<text x="{left}" y="{top_pad + 20}" fill="#6c757d">No stage entries yet.</text>')
        return _svg(width, top_pad + 40, "Conversion by month", "".join(parts))

    def px(i: int) -> float:
        return left + (plot_w * (i + 0.5) / len(months))

    def py(rate: float) -> float:
        return top_pad + plot_h * (1 - rate)

    for t in range(0, 101, 25):
        yy = py(t / 100)
        parts.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="#e9ecef"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#495057">{t}%</text>')
    parts.append(
        f'<text x="12" y="{top_pad + plot_h / 2}" transform="rotate(-90 12 {top_pad + plot_h / 2})" '
        'text-anchor="middle" font-weight="600">Conversion</text>'
    )
    every = max(1, round(len(months) / 8))
    for i, month in enumerate(months):
        if i % every == 0 or i == len(months) - 1:
            parts.append(
                f'<text x="{px(i):.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" fill="#495057">'
                f"{_e(month)}</text>"
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top_pad + plot_h + 34}" text-anchor="middle" '
        'font-weight="600">Month of first entry into the stage</text>'
    )
    for k, stage in enumerate(trend["stages"]):
        colour, dash = _LINE_COLOURS[k % len(_LINE_COLOURS)], _DASHES[(k // len(_LINE_COLOURS)) % 4]
        segments, current = [], []
        for i, point in enumerate(stage["points"]):
            if point["rate"] is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((px(i), py(point["rate"])))
            fill = "#fff" if point["small_sample"] else colour
            parts.append(
                f'<circle cx="{px(i):.1f}" cy="{py(point["rate"]):.1f}" r="3" fill="{fill}" stroke="{colour}"'
                f"{_SMALL_ATTR if point['small_sample'] else ''}><title>{_e(stage['stage'])}, "
                f"{_e(point['month'])}: {point['rate'] * 100:.0f}% of {point['resolved']} resolved"
                f"{' (small sample)' if point['small_sample'] else ''}</title></circle>"
            )
        if current:
            segments.append(current)
        for seg in segments:
            if len(seg) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
                dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8"{dash_attr}/>'
                )
        lx = left + (k % 4) * (plot_w / 4)
        ly = top_pad + plot_h + 52 + 18 * (k // 4)
        parts.append(
            f'<line x1="{lx:.1f}" y1="{ly - 4}" x2="{lx + 18:.1f}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
            f'<text x="{lx + 24:.1f}" y="{ly}" fill="#212529">{_e(stage["stage"])}</text>'
        )
    return _svg(width, height, "Conversion by month of stage entry", "".join(parts))
