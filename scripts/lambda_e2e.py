"""The "as deployed" Lambda scenario against ministack (run by scripts/lambda-e2e).

    .venv-lambda/bin/python scripts/lambda_e2e.py --endpoint http://127.0.0.1:PORT \
        --zip FUNCTION.zip --pipeline PIPELINE.yaml [--source-file RESPONSE.json] [--timeout SECONDS]

PIPELINE.yaml is the pipeline packaged in FUNCTION.zip (its file name is the function's PIPELINE).
From it: the queue (`queue.name`, default `name`) with the dead-letter queue `<queue>-dlq` after
`queue.max_receive_count` receives, the table `store.table` with the key schema of `store.key`, the
SES identity `notify.from`. Then the function (provided.al2023, handler bootstrap) and its SQS
event source mapping (BatchSize `queue.batch_size`, ReportBatchItemFailures), as a deployment
would wire them. The function's environment is only PIPELINE: ministack must run with
AWS_ENDPOINT_URL=<its own URL> in its environment (it hands that to the function process).

1. SQS batch: 25 good and 2 poison quotes, sent the way the poller sends them; then, polling
   against a deadline, until the table holds the 25 good quotes (values checked exactly),
   ministack's SES outbox holds digests that list each of them exactly once, the dead-letter queue
   holds exactly the 2 poison messages and the queue is empty.
2. With --source-file (the body the pipeline's `source.url` serves): the function is invoked with
   an EventBridge scheduled event, must report one request and every record queued, and the
   records then go the same way (the demo response: 12 more stored and e-mailed, 1 more
   dead-lettered, as the poller queued it).

Why Python and boto3 rather than a Rust test: creating the function needs the Lambda API, which the
crate does not depend on (aws-sdk-lambda as a dev-dependency would cost every `cargo test` build
time for a check that runs elsewhere); the venv exists anyway for ministack and cargo-lambda; and
ministack's sent mail is a plain HTTP endpoint.

Exits 0 when everything holds, 1 with what differs otherwise (the caller prints ministack's log).
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import boto3
import yaml
from botocore.config import Config

GOOD = 25
POISON = 2
# Where the poison quotes go among the 27 messages: one in the first batch of 10, one in the
# second, so both partial-failure responses are exercised next to good records.
POISON_AT = (3, 14)
# The visibility timeout the test gives the queue, and the function's timeout (AWS requires the
# queue's to be at least the function's). stockrun's handler releases a poison record at once
# (visibility 0), so it is redelivered immediately and reaches the DLQ within a second; without
# that it would take max_receive_count visibility timeouts and one more (~4 x 10 s here; with the
# batch_window + 30 s of `stockrun init`, minutes).
VISIBILITY_TIMEOUT = 10
FUNCTION_TIMEOUT = 10
# The demo quotes' lastUpdateTime (Asia/Kolkata), and the same instant as stored (UTC).
LAST_UPDATE_TIME = "18-Mar-2024 15:59:38"
QUOTED_AT = "2024-03-18T10:29:38.000Z"
ACCOUNT = "000000000000"  # ministack's default account (any non-12-digit access key)


class Failed(Exception):
    pass


def log(msg):
    print(f"lambda_e2e: {msg}", flush=True)


def symbol(i):
    return f"LE2E{i:03}"


def price(i):
    # Trailing zeros, so "exact" means something: 1003.030, not 1003.03.
    return f"{1000 + i}.{i % 100:02}0"


def quote(i):
    """Raw quote text as latest-stock-price returns it (compact); poison ones have no price."""
    p = '"-"' if i in POISON_AT else price(i)
    return (
        f'{{"symbol":"{symbol(i)}","identifier":"{symbol(i)}EQN","open":999.5,'
        f'"dayHigh":2000.50,"dayLow":99.25,"lastPrice":{p},"previousClose":1000,'
        f'"change":1.5,"pChange":0.15,"totalTradedVolume":12345,'
        f'"lastUpdateTime":"{LAST_UPDATE_TIME}"}}'
    )


def message_body(pipeline_name, i, fetched_at):
    """A queue message exactly as the poller writes it: src/message.rs, `Message::to_body`, is
    serde_json in field order, compact, and with `arbitrary_precision`, so the record's numbers
    keep their digits (2000.50 stays 2000.50). Built as text, since Python's json would turn
    2000.50 into 2000.5."""
    json.loads(quote(i))  # well-formed
    return (
        f'{{"pipeline":{json.dumps(pipeline_name)},"feed":{{}},'
        f'"fetched_at":{json.dumps(fetched_at)},"record":{quote(i)}}}'
    )


def seconds(duration):
    """A pipeline duration (`5s`, `2m`, `500ms`) in whole seconds, as Lambda's
    MaximumBatchingWindowInSeconds takes it."""
    m = re.fullmatch(r"(\d+)(ms|s|m)", str(duration).strip())
    if not m:
        raise Failed(f"cannot read the duration {duration!r} (want e.g. 5s, 2m, 500ms)")
    n, unit = int(m.group(1)), m.group(2)
    return {"ms": n // 1000, "s": n, "m": n * 60}[unit]


def load_pipeline(path):
    """What the scenario needs from the pipeline file; all of it must be there."""
    with open(path, encoding="utf-8") as f:
        p = yaml.safe_load(f)
    try:
        return pipeline_facts(p)
    except (KeyError, TypeError, ValueError) as e:
        raise Failed(f"{path}: the scenario needs name, queue.max_receive_count, store.table, "
                     f"store.key.partition.name and notify.from/to ({type(e).__name__}: {e})")


def pipeline_facts(p):
    queue = p.get("queue") or {}
    store = p["store"]
    key = store["key"]
    return {
        "name": p["name"],
        "queue": queue.get("name") or p["name"],
        "batch_size": int(queue.get("batch_size", 10)),
        "batch_window": seconds(queue.get("batch_window", "60s")),
        "max_receive_count": int(queue["max_receive_count"]),
        "table": store["table"],
        "partition": key["partition"]["name"],
        "sort": (key.get("sort") or {}).get("name"),
        "from": p["notify"]["from"],
        "to": list(p["notify"]["to"]),
    }


class Scenario:
    def __init__(self, endpoint, zip_path, pipeline_path, timeout):
        self.endpoint = endpoint.rstrip("/")
        self.zip_path = zip_path
        self.pipeline_file = os.path.basename(pipeline_path)
        self.p = load_pipeline(pipeline_path)
        self.deadline_seconds = timeout
        kw = dict(
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
        )
        self.sqs = boto3.client("sqs", **kw)
        self.ddb = boto3.client("dynamodb", **kw)
        self.ses = boto3.client("sesv2", **kw)
        self.lam = boto3.client("lambda", **kw)
        self.t0 = time.monotonic()
        self.item_shown = False

    def elapsed(self):
        return f"{time.monotonic() - self.t0:5.1f}s"

    # --- set-up, as a deployment would do it ---------------------------------------------------

    def create_resources(self):
        p = self.p
        attrs = [{"AttributeName": p["partition"], "AttributeType": "S"}]
        schema = [{"AttributeName": p["partition"], "KeyType": "HASH"}]
        if p["sort"]:
            attrs.append({"AttributeName": p["sort"], "AttributeType": "S"})
            schema.append({"AttributeName": p["sort"], "KeyType": "RANGE"})
        self.ddb.create_table(
            TableName=p["table"], AttributeDefinitions=attrs, KeySchema=schema,
            BillingMode="PAY_PER_REQUEST",
        )
        self.dlq_url = self.sqs.create_queue(QueueName=p["queue"] + "-dlq")["QueueUrl"]
        dlq_arn = self.queue_arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName=p["queue"],
            Attributes={
                "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": p["max_receive_count"]}
                ),
            },
        )["QueueUrl"]
        self.ses.create_email_identity(EmailIdentity=p["from"])
        log(f"{self.elapsed()} table {p['table']}, queue {p['queue']} (DLQ after "
            f"{p['max_receive_count']} receives), sender {p['from']}")

    def queue_arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

    def create_function(self):
        with open(self.zip_path, "rb") as f:
            code = f.read()
        self.function = self.p["name"]
        # Only what a deployment sets. The endpoint is not here: ministack gives a provided.*
        # function the AWS_ENDPOINT_URL of its own environment (overriding the function's), and
        # scripts/lambda-e2e starts it with AWS_ENDPOINT_URL pointing at itself.
        env = {"PIPELINE": self.pipeline_file}
        fn = self.lam.create_function(
            FunctionName=self.function,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Architectures=["x86_64"],
            Role=f"arn:aws:iam::{ACCOUNT}:role/{self.function}",
            Code={"ZipFile": code},
            Timeout=FUNCTION_TIMEOUT,
            MemorySize=128,
            Environment={"Variables": env},
        )
        self.wait_for("the function to be Active", lambda: self.function_state() == "Active", 30)
        log(f"{self.elapsed()} function {fn['FunctionArn']} ({len(code) / 1e6:.1f} MB package, "
            f"PIPELINE={self.pipeline_file})")
        esm = self.lam.create_event_source_mapping(
            EventSourceArn=self.queue_arn(self.queue_url),
            FunctionName=self.function,
            BatchSize=self.p["batch_size"],
            # Stored by ministack 1.5.33 but not applied (it invokes as soon as messages arrive).
            MaximumBatchingWindowInSeconds=self.p["batch_window"],
            FunctionResponseTypes=["ReportBatchItemFailures"],
            Enabled=True,
        )
        self.esm_uuid = esm["UUID"]
        self.wait_for(
            "the event source mapping to be Enabled",
            lambda: self.lam.get_event_source_mapping(UUID=self.esm_uuid)["State"] == "Enabled",
            30,
        )
        log(f"{self.elapsed()} event source mapping {self.esm_uuid}: BatchSize "
            f"{self.p['batch_size']}, MaximumBatchingWindowInSeconds {self.p['batch_window']}, "
            "ReportBatchItemFailures")

    def function_state(self):
        return self.lam.get_function_configuration(FunctionName=self.function)["State"]

    # --- the run ---------------------------------------------------------------------------------

    def send_quotes(self):
        fetched_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self.sent = {}
        bodies = [message_body(self.p["name"], i, fetched_at) for i in range(GOOD + POISON)]
        for start in range(0, len(bodies), 10):  # SendMessageBatch, ≤ 10 entries, as the poller
            entries = [{"Id": str(i), "MessageBody": bodies[i]}
                       for i in range(start, min(start + 10, len(bodies)))]
            r = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if r.get("Failed"):
                raise Failed(f"SendMessageBatch failed entries: {r['Failed']}")
            for ok in r["Successful"]:
                self.sent[ok["MessageId"]] = int(ok["Id"])
        self.poison_bodies = sorted(bodies[i] for i in POISON_AT)
        self.sent_at = time.monotonic()
        log(f"{self.elapsed()} sent {GOOD} good and {POISON} poison quotes "
            f"(poison at positions {list(POISON_AT)})")

    def items(self):
        items, start = [], None
        while True:
            kw = {"TableName": self.p["table"], "ConsistentRead": True}
            if start:
                kw["ExclusiveStartKey"] = start
            r = self.ddb.scan(**kw)
            items += r["Items"]
            start = r.get("LastEvaluatedKey")
            if not start:
                return items

    def emails(self):
        with urllib.request.urlopen(self.endpoint + "/_ministack/ses/messages", timeout=10) as r:
            data = json.load(r)
        msgs = data.get("messages", {})
        if isinstance(msgs, dict):  # keyed by account
            msgs = [m for ms in msgs.values() for m in ms]
        return [m for m in msgs if m.get("Source") == self.p["from"]]

    def email_lines(self, emails):
        return [line for m in emails for line in (m.get("BodyText") or "").splitlines() if line]

    def counts(self, url):
        a = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def wait_for(self, what, done, seconds):
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {seconds} s waiting for {what}")
            time.sleep(0.25)

    def wait_until_settled(self, items, dead):
        """Poll until the table, the outbox and the queues reach their end state (`items` stored
        and e-mailed, `dead` dead-lettered, the queue empty), or the deadline."""
        deadline = self.sent_at + self.deadline_seconds
        seen = {}
        while True:
            state = {
                "items": len(self.items()),
                "e-mailed quotes": len(self.email_lines(self.emails())),
                "queue": self.counts(self.queue_url),
                "dlq": self.counts(self.dlq_url),
            }
            for k, v in state.items():
                if seen.get(k) != v:
                    log(f"{self.elapsed()} {k}: {v}")
                    seen[k] = v
            # A poison record is a partial failure; the invocation itself never fails here.
            result = self.lam.get_event_source_mapping(UUID=self.esm_uuid).get(
                "LastProcessingResult")
            if result == "FAILED":
                raise Failed(f"an invocation by the event source mapping failed as a whole (the "
                             f"function errored, crashed or timed out); state {state}")
            if (state["items"] >= items and state["e-mailed quotes"] >= items
                    and state["dlq"] == (dead, 0) and state["queue"] == (0, 0)):
                self.settled_after = time.monotonic() - self.sent_at
                log(f"{self.elapsed()} settled {self.settled_after:.1f} s after sending")
                return
            if time.monotonic() > deadline:
                raise Failed(
                    f"not settled {self.deadline_seconds} s after sending: {state}; want "
                    f"items {items}, e-mailed quotes {items}, queue (0, 0), dlq ({dead}, 0) "
                    "(visible, in flight). ESM: "
                    + str(self.lam.get_event_source_mapping(UUID=self.esm_uuid).get(
                        "LastProcessingResult"))
                )
            time.sleep(0.5)

    # --- the checks ------------------------------------------------------------------------------

    def check(self, want, dead_bodies, label):
        """The end state after `label`: the table holds exactly `want` (symbol -> price, high, low,
        quoted_at, as text), the digests list each of them exactly once, the queue is empty and
        the dead-letter queue holds exactly `dead_bodies` (bodies, or predicates on the body)."""
        errors = []
        p = self.p

        # DynamoDB: exactly the stored quotes, each with its values.
        items = self.items()
        by_symbol = {}
        for it in items:
            s = it.get(p["partition"], {}).get("S")
            if s in by_symbol:
                errors.append(f"two items for {s}: {by_symbol[s]} and {it}")
            by_symbol[s] = it
        if set(by_symbol) != set(want):
            errors.append(f"table symbols: missing {sorted(set(want) - set(by_symbol))}, "
                          f"unexpected {sorted(set(by_symbol) - set(want))}")
        for s, (pr, hi, lo, q) in sorted(want.items()):
            it = by_symbol.get(s)
            if it is None:
                continue
            if it.get(p["sort"] or "quoted_at") != {"S": q}:
                errors.append(f"{s}: quoted_at {it.get('quoted_at')}, want S {q}")
            for field, text in (("price", pr), ("high", hi), ("low", lo)):
                n = (it.get(field) or {}).get("N")
                # Compared as numbers: real DynamoDB trims trailing zeros.
                if n is None or Decimal(n) != Decimal(text):
                    errors.append(f"{s}: {field} {it.get(field)}, want N {text}")
            ins = (it.get("inserted_at") or {}).get("S", "")
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", ins):
                errors.append(f"{s}: inserted_at {it.get('inserted_at')} is not RFC 3339 UTC")
        if not self.item_shown and items:
            log(f"an item as stored: {json.dumps(items[0], sort_keys=True)}")
            self.item_shown = True

        # SES: digests listing every stored quote exactly once; the subject counts the lines.
        emails = self.emails()
        lines = []
        for m in emails:
            body = [line for line in (m.get("BodyText") or "").splitlines() if line]
            if m.get("To") != p["to"]:
                errors.append(f"e-mail to {m.get('To')}, want {p['to']}: {m}")
            mt = re.fullmatch(r"(\d+) new quotes", m.get("Subject", ""))
            if not mt or int(mt.group(1)) != len(body):
                errors.append(f"subject {m.get('Subject')!r} for {len(body)} lines:\n"
                              + "\n".join(body))
            lines += body
        pattern = re.compile(
            r"(.+): (\S+) \(high (\S+), low (\S+)\) quoted (\S+), stored (\S+)")
        mailed = []
        for line in lines:
            mt = pattern.fullmatch(line)
            if not mt:
                errors.append(f"unexpected digest line {line!r}")
                continue
            s, *values, _stored = mt.groups()
            mailed.append(s)
            if s in want and tuple(values) != want[s]:
                errors.append(f"digest line {line!r}: want price, high, low, quoted_at {want[s]}")
        if sorted(mailed) != sorted(want):
            dup = sorted({s for s in mailed if mailed.count(s) > 1})
            errors.append(f"e-mailed quotes: missing {sorted(set(want) - set(mailed))}, "
                          f"twice {dup}, unexpected {sorted(set(mailed) - set(want))}")
        log(f"{label}: {len(items)} items, {len(emails)} digest e-mails ("
            + ", ".join(sorted(m["Subject"] for m in emails)) + ")")

        # SQS: the queue is empty; the DLQ holds exactly the poison messages. Received with a
        # visibility timeout of 0, so a later check sees them again.
        if self.counts(self.queue_url) != (0, 0):
            errors.append(f"queue not empty: {self.counts(self.queue_url)}")
        dead = {}
        for _ in range(10):
            r = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10,
                                         AttributeNames=["All"], VisibilityTimeout=0)
            for m in r.get("Messages", []):
                dead[m["MessageId"]] = m
            if len(dead) >= len(dead_bodies):
                break
        bodies = sorted(m["Body"] for m in dead.values())
        unmatched = list(bodies)
        for want_body in dead_bodies:
            match = next((b for b in unmatched
                          if (want_body(b) if callable(want_body) else b == want_body)), None)
            if match is None:
                errors.append(f"no dead-lettered message like {getattr(want_body, '__doc__', None) or want_body}")
            else:
                unmatched.remove(match)
        if unmatched:
            errors.append("unexpected dead-lettered messages:\n" + "\n".join(unmatched))
        for m in dead.values():
            rc = int(m["Attributes"].get("ApproximateReceiveCount", "0"))
            if rc < p["max_receive_count"]:
                errors.append(f"dead-lettered after {rc} receives, want >= {p['max_receive_count']}")
        result = self.lam.get_event_source_mapping(UUID=self.esm_uuid).get("LastProcessingResult")
        log(f"{label}: ESM last processing result: {result}")
        if errors:
            raise Failed("\n  ".join([f"{label}: the deployed function did not do its job:"] + errors))

    # --- phase 2: the schedule fires --------------------------------------------------------------

    def scheduled_poll(self, source_file):
        """Invokes the function with an EventBridge scheduled event: it polls the source (a local
        HTTP server serving `source_file`, the demo response) once and queues every record; the
        event source mapping then processes them like the batch above."""
        with open(source_file, encoding="utf-8") as f:
            text = f.read()
        # Numbers as their text too (the pipeline keeps digits as written).
        quotes, texts = json.loads(text), json.loads(text, parse_float=str, parse_int=str)
        # Poison: a quote whose price is not a number (the demo's DELISTED has "-").
        numeric = [isinstance(q.get("lastPrice"), (int, float)) for q in quotes]
        good = [t for t, ok in zip(texts, numeric) if ok]
        poison = [t for t, ok in zip(texts, numeric) if not ok]
        if not good or not poison:
            raise Failed(f"{source_file}: want good quotes and at least one without a price")
        event = {  # the "Scheduled Event" of the EventBridge documentation
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT,
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{self.function}-schedule"],
            "detail": {},
        }
        before = time.monotonic()
        r = self.lam.invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
        payload = r["Payload"].read().decode()
        log(f"{self.elapsed()} scheduled event -> {payload} ({time.monotonic() - before:.1f} s)")
        if r.get("FunctionError"):
            raise Failed(f"the scheduled invocation failed ({r['FunctionError']}): {payload}")
        counts = json.loads(payload)
        want_counts = {"pipeline": self.p["name"], "requests": 1, "failed_feeds": 0,
                       "fetched": len(quotes), "queued": len(quotes)}
        if counts != want_counts:
            raise Failed(f"scheduled poll returned {counts}, want {want_counts}")
        self.sent_at = time.monotonic()
        self.want.update({
            q["symbol"]: (q["lastPrice"], q["dayHigh"], q["dayLow"], kolkata_to_utc(q["lastUpdateTime"]))
            for q in good
        })
        self.dead += [poller_message(self.p["name"], q["symbol"]) for q in poison]
        self.wait_until_settled(len(self.want), len(self.dead))
        self.check(self.want, self.dead, "scheduled poll")

    def run(self, source_file):
        self.create_resources()
        self.create_function()
        self.send_quotes()
        good = [i for i in range(GOOD + POISON) if i not in POISON_AT]
        self.want = {symbol(i): (price(i), "2000.50", "99.25", QUOTED_AT) for i in good}
        self.dead = list(self.poison_bodies)
        self.wait_until_settled(len(self.want), len(self.dead))
        self.check(self.want, self.dead, "SQS batch")
        batch_settled = self.settled_after
        log(f"PASS (SQS batch): {GOOD} quotes stored and e-mailed, {POISON} dead-lettered; "
            f"settled {batch_settled:.1f} s after sending")
        if source_file:
            self.scheduled_poll(source_file)
            log(f"PASS (scheduled poll): settled {self.settled_after:.1f} s after the invocation")
        log(f"PASS: {time.monotonic() - self.t0:.1f} s in all")


def kolkata_to_utc(text):
    """A demo `lastUpdateTime` (Asia/Kolkata, UTC+05:30 all year) as the pipeline stores it."""
    t = datetime.strptime(text, "%d-%b-%Y %H:%M:%S").replace(
        tzinfo=timezone(timedelta(hours=5, minutes=30)))
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def poller_message(pipeline_name, sym):
    """A predicate: `body` is a message the poller queued for the quote `sym`, shaped as
    src/message.rs says (and as send_quotes imitates)."""
    def match(body):
        m = json.loads(body)
        return (list(m) == ["pipeline", "feed", "fetched_at", "record"]
                and m["pipeline"] == pipeline_name and m["feed"] == {}
                and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", m["fetched_at"])
                and m["record"].get("symbol") == sym)
    match.__doc__ = f"the poller's message for {sym}"
    return match


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True, help="ministack, http://127.0.0.1:PORT")
    ap.add_argument("--zip", required=True, help="the deployment package (scripts/package-lambda)")
    ap.add_argument("--pipeline", required=True, help="the pipeline file packaged in --zip")
    ap.add_argument("--source-file",
                    help="the response the pipeline's source URL serves: also test a scheduled poll")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds after sending until the end state must be reached")
    a = ap.parse_args()
    for path in (a.zip, a.pipeline) + ((a.source_file,) if a.source_file else ()):
        if not os.path.isfile(path):
            sys.exit(f"lambda_e2e: error: {path}: no such file")
    try:
        Scenario(a.endpoint, a.zip, a.pipeline, a.timeout).run(a.source_file)
    except Failed as e:
        log(f"FAIL: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
