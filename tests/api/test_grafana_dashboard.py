"""deploy/grafana/hub-dashboard.json, the Grafana dashboard of the hub's own metrics: JSON that
Grafana imports (panels on a Prometheus data source picked through its variable), and every
metric name its queries use is one a real hub's /metrics serves."""

import json
import re
from pathlib import Path
from typing import Any

from test_metrics import scrape_text

from hub.pytest_plugin import RunningHub

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "hub-dashboard.json"
_METRIC = re.compile(r"\b((?:hub|soketi)_[a-z_]+)\b")


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def queries(dashboard: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["definition"])
    return found


def test_the_dashboard_is_grafana_json_on_a_prometheus_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert len(panels(dashboard)) >= 10
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel


async def test_every_metric_the_dashboard_queries_is_served(hub_server: RunningHub) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    text = await scrape_text(hub_server)
    served = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    used = {name for query in queries(dashboard) for name in _METRIC.findall(query)}
    assert len(used) >= 15, used
    assert used <= served, f"not served: {sorted(used - served)}"
