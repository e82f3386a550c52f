"""`make audit`, part two: pip-audit over the installed environment, honest about reach.

Exit 1 when a known vulnerability is found. When the vulnerability service cannot be reached
(offline CI, a mirror without the JSON API), say so loudly and exit 0: an audit that could not
run is reported as not run, never as clean.
"""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(result.stdout or "{}")
    except ValueError:
        report = {}
    deps = report.get("dependencies", [])
    if not deps:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        sys.stdout.write(
            f"pip-audit: NOT RUN, the vulnerability service is unreachable ({reason})\n"
        )
        return 0
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = len(deps) - len(skipped)
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        sys.stdout.write(f"pip-audit: {dep['name']} {dep.get('version', '')}: {ids}\n")
    if vulnerable:
        sys.stdout.write(f"pip-audit: {len(vulnerable)} vulnerable package(s)\n")
        return 1
    if audited == 0:
        sys.stdout.write(
            f"pip-audit: NOT RUN, the vulnerability service could not be reached: all "
            f"{len(deps)} packages were skipped (no PyPI JSON API from here).\n"
        )
        return 0
    sys.stdout.write(f"pip-audit: {audited} packages audited, no known vulnerability")
    sys.stdout.write(f" ({len(skipped)} skipped)\n" if skipped else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
