#!/usr/bin/env python3
"""Compares ShadowBell's mutual-wait findings with the simulator's ground truth.

    compare-truth.py REPORT.json TRUTH.json

REPORT is `shadowbell analyze TRACE --format json --min-wait 0` of a lab-mode trace (or its
pcap), TRUTH the `--truth` file `shadowbell simulate` wrote with it. Windows are matched by
queue and start time; start, end, resolution, cause and the number of stuck commands must be
equal. Prints one JSON line {"truth": N, "found": N, "exact": N, "mismatches": [...]} and exits 1
when anything differs.
"""
import json
import sys


def key(queue, start):
    return (queue["controller"], queue["qid"], queue["type"], start)


def main(report_path, truth_path):
    report = json.load(open(report_path))
    truth = json.load(open(truth_path))
    found = {key(f["queue"], f["start_ns"]): f for f in report.get("findings", []) if f["kind"] == "mutual-wait"}
    expected = {key(w["queue"], w["start_ns"]): w for w in truth.get("mutual_waits", [])}
    mismatches, exact = [], 0
    for k, w in sorted(expected.items()):
        f = found.get(k)
        if f is None:
            mismatches.append(f"missing {k}")
            continue
        want = (w["end_ns"], w["resolution"], w["cause"], w["stuck_commands"])
        got = (f.get("end_ns"), f.get("resolution"), f.get("cause"), f.get("stuck_commands"))
        if want == got:
            exact += 1
        else:
            mismatches.append(f"{k}: truth {want}, analyzer {got}")
    mismatches += [f"not in truth {k}" for k in sorted(set(found) - set(expected))]
    print(json.dumps({"truth": len(expected), "found": len(found), "exact": exact, "mismatches": mismatches[:20]}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))
