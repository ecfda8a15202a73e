"""Presentation of a benchmark report: the text table and Trackio rows."""

from __future__ import annotations

from typing import Any


def format_report(data: dict[str, Any]) -> str:
    """A compact table of a report dict (``BenchReport.to_dict()`` or loaded JSON)."""
    prov = data.get("provenance", {})
    lines = [
        f"{prov.get('device')}  driver {prov.get('driver')}  torch {prov.get('torch')}  "
        f"cuda {prov.get('cuda')}  commit {str(prov.get('git_commit'))[:10]}  {prov.get('date')}"
    ]
    dc = data.get("device_copy") or {}
    if dc.get("gbps"):
        lines.append(
            f"device copy: {dc['gbps']:.0f} GB/s over {dc['bytes'] / 2**20:.0f} MiB; "
            f"ceiling used (best copy in run) {dc.get('peak_gbps') or 0:.0f} GB/s"
        )
    lines.append(
        f"{'shape':<22} {'case':<18} {'device µs':>10} {'±IQR':>8} {'host µs':>9} {'GB/s':>8} "
        f"{'%copy':>6} {'%peak':>6}  check  flags"
    )
    for g in data.get("groups", []):
        if g.get("error"):
            lines.append(f"{g['label']:<22} error: {g['error']}")
            continue
        for c in g["cases"]:
            d, h = c.get("device") or {}, c.get("host") or {}
            check = c.get("check")
            ok = "-" if check is None else ("ok" if check["ok"] else "FAIL")
            flags = ",".join(f["kind"] for f in c.get("flags", []) if f["severity"] != "info")
            name = ("*" if c["role"] == "candidate" else " ") + c["name"]
            lines.append(
                f"{g['label']:<22} {name:<18} {_num(d.get('median_us')):>10} {_num(d.get('iqr_us')):>8} "
                f"{_num(h.get('median_us')):>9} {_num(c.get('gbps'), '.0f'):>8} {_num(c.get('pct_of_copy'), '.0f'):>6} "
                f"{_num(c.get('pct_of_peak_copy'), '.0f'):>6}  "
                f"{ok:<5}  {flags}"
            )
    for cc in data.get("compile_checks", []):
        lines.append(
            f"torch.compile(fullgraph=True) {cc['bench']} {cc['shape']} [{cc['mode']}]: "
            f"{'ok' if cc['ok'] else 'FAIL ' + str(cc.get('error'))}"
        )
    lines.append("result: " + ("ok" if data.get("ok") else "NOT OK (see flags)"))
    return "\n".join(lines)


def _num(x: Any, spec_: str = ".2f") -> str:
    return "-" if x is None or isinstance(x, str) else f"{x:{spec_}}"


def trackio_rows(data: dict[str, Any]) -> list[dict[str, float]]:
    """One Trackio log row per group: ``<case>/device_us``, ``<case>/host_us``, ``<case>/gbps`` plus shape numbers."""
    rows = []
    for g in data.get("groups", []):
        row: dict[str, float] = {f"shape/{k}": float(v) for k, v in g["shape"].items() if isinstance(v, (int, float))}
        row["bytes"] = float(g["bytes"])
        for c in g["cases"]:
            d, h = c.get("device") or {}, c.get("host") or {}
            for key, value in (
                ("device_us", d.get("median_us")),
                ("host_us", h.get("median_us")),
                ("gbps", c.get("gbps")),
                ("pct_of_copy", c.get("pct_of_copy")),
            ):
                if isinstance(value, (int, float)):
                    row[f"{c['name']}/{key}"] = float(value)
        rows.append(row)
    return rows


def log_report_to_trackio(data: dict[str, Any], project: str, name: str | None = None) -> int:
    import trackio

    run = trackio.init(project=project, name=name, config={"provenance": data.get("provenance", {})})
    rows = trackio_rows(data)
    for step, row in enumerate(rows):
        run.log(row, step=step)
    trackio.finish()
    return len(rows)
