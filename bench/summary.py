"""What the summary tables of run_games.sh and run_rooms.sh read the same way: their results
(one JSON object a line) grouped by a key, and a group's errors summed."""
import json


def grouped(path, key):
    """The rows of the JSON-lines file at path in lists, by key(row)."""
    groups = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                groups.setdefault(key(row), []).append(row)
    return groups


def errors_text(rows):
    """"CODE n, ..." of the errors the rows counted in their windows, summed; "none" if none."""
    errs = {}
    for r in rows:
        for k, v in r.get("errors_in_window", {}).items():
            errs[k] = errs.get(k, 0) + v
    return ", ".join(f"{k} {v}" for k, v in errs.items()) or "none"
