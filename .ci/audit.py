"""`make audit`: pip-audit over the project's installed environment (the editable project itself skipped).

Policy:
- a known vulnerability fails the run (exit 1), unless its ID is listed with a reason in
  `.ci/audit-ignore.txt` (passed to pip-audit as `--ignore-vuln`);
- when the vulnerability service cannot be reached or cannot answer for the installed versions
  (no network, or a package index without PyPI's per-version JSON API), a clear WARNING is printed
  and the run does not fail: nothing was checked, and the output says so.

Usage: python .ci/audit.py  (run with the project's virtualenv interpreter)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

IGNORE_FILE = Path(__file__).with_name("audit-ignore.txt")


def ignored_ids(path: Path = IGNORE_FILE) -> list[str]:
    """IDs from the ignore file: one per line, ``ID  reason``; ``#`` starts a comment. A reason is required."""
    ids = []
    if not path.exists():
        return ids
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        vuln_id, _, reason = text.partition(" ")
        if not reason.strip():
            sys.exit(f"audit: {path.name}:{number}: {vuln_id} needs a reason after the ID")
        ids.append(vuln_id)
    return ids


def run_pip_audit(ignore: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip_audit", "--local", "--skip-editable", "--progress-spinner", "off",
           "--desc", "off", "--format", "json", "--output", str(out), "--timeout", "20"]
    for vuln_id in ignore:
        cmd += ["--ignore-vuln", vuln_id]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603


def warn(message: str) -> None:
    print(f"audit: WARNING: {message}", file=sys.stderr)


def report(data: dict, proc: subprocess.CompletedProcess[str], ignore: list[str]) -> int:
    deps = data.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if d.get("skip_reason") and "editable" not in d["skip_reason"]]
    audited = [d for d in deps if not d.get("skip_reason")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            print(f"audit: VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixed})")
    if vulnerable:
        print(f"audit: FAILED: {sum(len(d['vulns']) for d in vulnerable)} known vulnerabilities in "
              f"{len(vulnerable)} packages; upgrade them (raise the lower bound in pyproject.toml) or list the "
              f"ID with a reason in .ci/audit-ignore.txt")
        return 1
    if skipped and not audited:
        warn(f"the vulnerability service could not answer for any of the {len(skipped)} installed packages "
             f"({skipped[0]['skip_reason']}): NOTHING WAS CHECKED. Not failing the run (no network to the "
             f"service from here); run `make audit` where PyPI's JSON API is reachable.")
        return 0
    if skipped:
        warn(f"{len(skipped)} packages could not be checked: "
             + ", ".join(f"{d['name']} {d.get('version', '')}".strip() for d in skipped))
    if proc.returncode != 0:
        warn(f"pip-audit exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    note = f", {len(ignore)} accepted IDs ignored" if ignore else ""
    print(f"audit: {len(audited)} packages checked, no known vulnerabilities{note}")
    return 0


def main() -> int:
    ignore = ignored_ids()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        try:
            proc = run_pip_audit(ignore, out)
        except subprocess.TimeoutExpired:
            warn("pip-audit timed out: the vulnerability service is unreachable. NOTHING WAS CHECKED.")
            return 0
        if "No module named pip_audit" in proc.stderr:
            print("audit: pip-audit is not installed: `pip install -e '.[dev]'`", file=sys.stderr)
            return 1
        if not out.exists() or not out.read_text().strip():
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            warn(f"pip-audit could not reach the vulnerability service ({detail}). NOTHING WAS CHECKED. "
                 "Not failing the run.")
            return 0
        return report(json.loads(out.read_text()), proc, ignore)


if __name__ == "__main__":
    sys.exit(main())
