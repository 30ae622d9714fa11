"""Live timing benchmark through JACK (same as `livegen bench --live`).

.venv/bin/python bench/live_bench.py --model PATH [--seconds 10] [--period 64] [--json OUT]
"""

from __future__ import annotations

import argparse
import json

from livegen.bench.live_bench import LiveBenchOptions, format_report, run_live_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="default")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bpm", type=float, default=180.0)
    parser.add_argument("--period", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="timing.latency_ms")
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    options = LiveBenchOptions(
        args.model, args.seconds, args.bpm, args.period, latency_ms=args.latency_ms
    )
    result = run_live_bench(options)
    print(format_report(result))
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
