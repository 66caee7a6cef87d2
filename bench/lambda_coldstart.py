#!/usr/bin/env python3
"""Cold start of the Lambda mode: process exec -> ready -> first event handled, and peak RSS,
for each pipeline given.

Usage (bench/lambda-coldstart runs it with the right binary and a moto server, on every shipped
pipeline):
    lambda_coldstart.py BINARY MOTO_URL RUNS PIPELINE...

Each run starts BINARY afresh as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a runtime API
served here, PIPELINE, the function variables, AWS at MOTO_URL), hands it one SQS event of up to
10 records, and records, from the moment before exec:
  ready   - the first GET /runtime/invocation/next (init done: pipeline loaded and checked as
            `validate` checks it, clients set up); and the process's on-CPU time by then
            (its threads' schedstat), which a busy machine barely moves
  handled - the POST of the response to that event (stored in DynamoDB, e-mail sent via SES)
  rss     - the process's peak resident set (VmHWM) when it posts the response
The runtime API is in this process on loopback; it answers at once, so the figures are the
binary's own (plus moto's latency for the store write and the e-mail in `handled`).

The event's records are the pipeline's own: its first recorded test response (the first `file:`
of NAME.test.yaml beside it) polled by `BINARY poll --once` on a copy of the pipeline whose URL
reads that file, into a throwaway local state directory, whose queue holds the message bodies
exactly as the poller wraps them (feed, member names, root values). Records the pipeline rejects
(a quote without a price) are left out: the event must be handled without failures.
"""

import http.server
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEXT = "/2018-06-01/runtime/invocation/next"


# Every variable a shipped pipeline reads, with a dummy value (nothing is requested).
DUMMY_ENV = {"RAPIDAPI_KEY": "bench-key-0123456789"}


def recorded_bodies(binary: str, pipeline: Path) -> list:
    """Message bodies the poller makes of the pipeline's first recorded test response."""
    tests = pipeline.with_name(pipeline.stem + ".test.yaml")
    response = next(
        (pipeline.parent / m.group(1)).resolve()
        for m in re.finditer(r"file:\s*([^\s,}]+)", tests.read_text())
    )
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        shutil.copy(response, work / "response.json")
        text = re.sub(r"(?m)^  url: .*$", "  url: file:response.json", pipeline.read_text(), count=1)
        (work / "pipeline.yaml").write_text(text)
        env = {"PATH": "/usr/bin:/bin", "STOCKRUN_STATE_DIR": str(work / "state"), **DUMMY_ENV}
        done = subprocess.run(
            [binary, "poll", "--once", "--backend", "local", str(work / "pipeline.yaml")],
            env=env, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"poll of {response} for {pipeline} failed:\n{done.stderr}")
        db = sqlite3.connect(next((work / "state").glob("*.db")))
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        # queue_bodies since issue 15; a binary from before keeps the body in queue_messages.
        table = "queue_bodies" if "queue_bodies" in tables else "queue_messages"
        bodies = [b for (b,) in db.execute(f"SELECT body FROM {table} ORDER BY id")]
        db.close()
    return bodies


def sqs_event(bodies: list) -> bytes:
    """Up to 10 message bodies as an SQS event source mapping batch."""
    sample = json.loads((ROOT / "tests/fixtures/lambda/sqs-event.json").read_text())["Records"][0]
    records = []
    for i, body in enumerate(bodies[:10]):
        record = dict(sample)
        record["messageId"] = f"00000000-0000-4000-8000-{i:012d}"
        record["receiptHandle"] = f"bench-receipt-{i}"
        record["body"] = body
        records.append(record)
    return json.dumps({"Records": records}).encode()


def cpu_ms(pid: int) -> float:
    """On-CPU time of the process's live threads so far (schedstat, ns): unlike wall time, barely
    moved by other processes competing for the cores."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass  # a thread that just ended
    return total / 1e6


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
        api.ready_cpu_ms = cpu_ms(api.pid)
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
        # The API key (never used: the Lambda handles an SQS event).
        **DUMMY_ENV,
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
        raise RuntimeError(f"unexpected response {path} {body!r} for {pipeline}\n{log}")
    return {
        "ready_ms": (api.ready_at - start) * 1000,
        "ready_cpu_ms": api.ready_cpu_ms,
        "handled_ms": (api.handled_at - start) * 1000,
        "rss_kib": api.rss_kib,
    }


def good_bodies(binary: str, pipeline: Path, moto: str) -> list:
    """The recorded bodies the pipeline handles without a failure: each is tried alone once."""
    bodies = recorded_bodies(binary, pipeline)
    good = []
    for body in bodies:
        try:
            run_once(sqs_event([body]), binary, pipeline, moto)
            good.append(body)
        except RuntimeError:
            pass
        if len(good) == 10:
            break
    if not good:
        raise RuntimeError(f"no record of {pipeline}'s recorded response is handled without failure")
    return good


def main():
    binary, moto, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pipelines = [Path(p).resolve() for p in sys.argv[4:]]
    size = os.path.getsize(binary)
    print(f"binary: {binary} ({size / 1e6:.2f} MB)")
    print(f"runs: {runs} per pipeline, one SQS event of the pipeline's own records each "
          "(stored in DynamoDB, e-mailed via SES, on moto); times from exec, in ms")
    print()
    print("| pipeline | records | ready median | ready p90 | CPU to ready median | handled median | handled p90 | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for pipeline in pipelines:
        event = sqs_event(good_bodies(binary, pipeline, moto))
        records = len(json.loads(event)["Records"])
        results = [run_once(event, binary, pipeline, moto) for _ in range(runs)]

        def summary(key):
            values = sorted(r[key] for r in results)
            return statistics.median(values), values[max(int(len(values) * 0.9) - 1, 0)]

        ready, ready_p90 = summary("ready_ms")
        ready_cpu, _ = summary("ready_cpu_ms")
        handled, handled_p90 = summary("handled_ms")
        rss, _ = summary("rss_kib")
        name = pipeline.relative_to(ROOT) if pipeline.is_relative_to(ROOT) else pipeline
        print(f"| `{name}` | {records} | {ready:.1f} | {ready_p90:.1f} | {ready_cpu:.1f} | {handled:.1f} | {handled_p90:.1f} | "
              f"{rss / 1024:.1f} MiB |", flush=True)


if __name__ == "__main__":
    main()
