"""Parses a Prometheus text exposition (stdin) with prometheus_client's own
parser and prints its samples as JSON: [{"name", "labels", "value"}]. A
document the parser refuses exits non-zero with its error.

Used by tests/node/metrics.test.mjs, so /metrics is read by the reference
parser, not by a regular expression of ours.
"""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    samples = []
    families = {}
    for family in text_string_to_metric_families(sys.stdin.read()):
        families[family.name] = family.type
        for sample in family.samples:
            value = sample.value
            samples.append({
                "name": sample.name,
                "labels": sample.labels,
                "value": None if math.isinf(value) or math.isnan(value) else value,
            })
    json.dump({"types": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
