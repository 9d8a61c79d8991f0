#!/usr/bin/env bash
# Checks what docs/ ships for Prometheus and Grafana against promtool (Debian's
# prometheus package; scripts/setup.sh test installs it):
# - the alert rules are valid and their unit tests (alerts.test.yml) pass;
# - every query of the Grafana dashboard is valid PromQL (checked as recording rules);
# - every metric the rules and the dashboard use is one docs/metrics.md documents.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

promtool check rules docs/prometheus/alerts.yml
(cd docs/prometheus && promtool test rules alerts.test.yml)

python3 - "$work/dashboard-rules.yml" <<'PY'
import json, re, sys
dash = json.load(open("docs/grafana/sluice.json"))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
assert exprs, "the dashboard has no queries"
with open(sys.argv[1], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        # Grafana's variables, as Grafana would fill them in.
        e = e.replace("$__rate_interval", "5m").replace("$tenant", ".*")
        out.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
documented = set(re.findall(r"`(sluice_[a-z_]+)`", open("docs/metrics.md").read()))
used = set()
for text in exprs + [open("docs/prometheus/alerts.yml").read()]:
    for name in re.findall(r"\bsluice_[a-z_]+", text):
        used.add(re.sub(r"_(bucket|sum|count)$", "", name))
missing = sorted(used - documented)
if missing:
    sys.exit(f"used but not in docs/metrics.md: {missing}")
print(f"{len(exprs)} dashboard queries; {len(used)} metrics used, all documented")
PY
promtool check rules "$work/dashboard-rules.yml"
