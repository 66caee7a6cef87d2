#!/usr/bin/env python3
"""Cold start of the Lambda mode: process exec -> ready -> first event handled, and peak RSS.

Usage (bench/lambda-coldstart runs it with the right binary and a moto server):
    lambda_coldstart.py BINARY PIPELINE MOTO_URL [RUNS]

Each run starts BINARY afresh as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a runtime API
served here, PIPELINE, the function variables, AWS at MOTO_URL), hands it one SQS event of 10
quote records (the AWS docs sample record around messages shaped as the poller sends them), and
records, from the moment before exec:
  ready   - the first GET /runtime/invocation/next (init done: pipeline loaded, clients set up)
  handled - the POST of the response to that event (stored in DynamoDB, e-mail sent via SES)
  rss     - the process's peak resident set (VmHWM) when it posts the response
The runtime API is in this process on loopback; it answers at once, so the figures are the
binary's own (plus moto's latency for the store write and the e-mail in `handled`).
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEXT = "/2018-06-01/runtime/invocation/next"


def sqs_event(pipeline_name: str) -> bytes:
    """10 good quotes of the demo response as an SQS event source mapping batch."""
    sample = json.loads((ROOT / "tests/fixtures/lambda/sqs-event.json").read_text())["Records"][0]
    quotes = json.loads((ROOT / "examples/responses/latest-stock-price-demo.json").read_text())
    good = [q for q in quotes if isinstance(q.get("lastPrice"), (int, float))][:10]
    assert len(good) == 10, "the demo response has 12 good quotes"
    records = []
    for i, quote in enumerate(good):
        record = dict(sample)
        record["messageId"] = f"00000000-0000-4000-8000-{i:012d}"
        record["receiptHandle"] = f"bench-receipt-{i}"
        record["body"] = json.dumps(
            {"pipeline": pipeline_name, "feed": {}, "fetched_at": "2024-03-18T10:30:00.000Z", "record": quote}
        )
        records.append(record)
    return json.dumps({"Records": records}).encode()


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set so far (VmHWM), read while it waits for our answer."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


class RuntimeApi(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a connection the killed process dropped

    def __init__(self, event: bytes):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.served = False
        self.ready_at = None
        self.handled_at = None
        self.response = None
        self.done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        api: RuntimeApi = self.server
        if self.path != NEXT:
            self.send_error(404)
            return
        if api.served:
            # Between invocations Lambda keeps /next waiting; the run is over by then.
            api.done.wait(30)
            try:
                self.send_error(410)
            except OSError:
                pass  # killed meanwhile
            return
        api.ready_at = time.perf_counter()
        api.served = True
        deadline = int((time.time() + 300) * 1000)
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:stockrun")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(api.event)))
        self.end_headers()
        self.wfile.write(api.event)

    def do_POST(self):
        api: RuntimeApi = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        api.handled_at = time.perf_counter()
        api.response = (self.path, body)
        api.rss_kib = peak_rss_kib(api.pid)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        api.done.set()


def run_once(event: bytes, binary: str, pipeline: Path, moto: str) -> dict:
    # A runtime API of its own per run: a killed process's last request never reaches the next.
    api = RuntimeApi(event)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "stockrun",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(pipeline.parent),
        "PIPELINE": pipeline.name,
        "AWS_ENDPOINT_URL": moto,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        # pipelines/stocks.yaml's API key (never used: the Lambda handles an SQS event).
        "RAPIDAPI_KEY": "bench-key-0123456789",
    }
    start = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    api.pid = process.pid
    try:
        answered = api.done.wait(30)
    finally:
        process.kill()
        log = process.communicate()[0].decode(errors="replace")
    api.shutdown()
    api.server_close()
    if not answered:
        raise RuntimeError(f"no response within 30 s; the binary's log:\n{log}")
    path, body = api.response
    if not path.endswith("/bench-1/response") or json.loads(body) != {"batchItemFailures": []}:
        raise RuntimeError(f"unexpected response {path} {body!r}\n{log}")
    return {
        "ready_ms": (api.ready_at - start) * 1000,
        "handled_ms": (api.handled_at - start) * 1000,
        "rss_kib": api.rss_kib,
    }


def main():
    binary, pipeline, moto = sys.argv[1], Path(sys.argv[2]).resolve(), sys.argv[3]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    name = next(l.split(":", 1)[1].strip() for l in pipeline.read_text().splitlines() if l.startswith("name:"))
    event = sqs_event(name)
    results = [run_once(event, binary, pipeline, moto) for _ in range(runs)]

    def summary(key):
        values = sorted(r[key] for r in results)
        return statistics.median(values), values[int(len(values) * 0.9) - 1], values[0], values[-1]

    size = os.path.getsize(binary)
    print(f"binary: {binary} ({size / 1e6:.2f} MB)")
    print(f"runs: {runs}, one SQS event of 10 records each (stored in DynamoDB, e-mailed via SES, on moto)")
    for key, label in [("ready_ms", "exec -> ready (first /next)"), ("handled_ms", "exec -> first event handled")]:
        median, p90, low, high = summary(key)
        print(f"{label:32} median {median:7.1f} ms   p90 {p90:7.1f} ms   min {low:7.1f}   max {high:7.1f}")
    median, _, low, high = summary("rss_kib")
    print(f"{'peak RSS (VmHWM)':32} median {median / 1024:7.1f} MiB  min {low / 1024:7.1f}   max {high / 1024:7.1f}")


if __name__ == "__main__":
    main()
