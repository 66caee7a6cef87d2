"""The "as deployed" Lambda scenario against ministack (run by scripts/lambda-e2e).

    .venv-lambda/bin/python scripts/lambda_e2e.py --endpoint http://127.0.0.1:PORT \
        --zip FUNCTION.zip --pipeline PIPELINE.yaml --template TEMPLATE.yaml \
        [--env VAR=VALUE]... [--source-file RESPONSE.json] [--timeout SECONDS]

PIPELINE.yaml is the pipeline packaged in FUNCTION.zip (its file name is the function's PIPELINE);
TEMPLATE.yaml is what `stockrun deploy-template` (the zip's own bootstrap) printed for it. The
function is deployed the way the README deploys it: FUNCTION.zip goes to a bucket in ministack's
S3 and TEMPLATE.yaml becomes a CloudFormation stack (CodeBucket/CodeKey, and for each --env
VAR=VALUE the parameter the template declares for VAR, in PascalCase; the template must declare
no other), which must reach CREATE_COMPLETE with every resource created. From the stack's outputs
and resources the deployment is then checked against the pipeline (names, the table's key, the
function's code (the uploaded zip), PIPELINE and each --env variable in the function's
environment, the redrive after `queue.max_receive_count`
receives, the visibility timeout, the trigger's batch size, batch window and
ReportBatchItemFailures, the EventBridge Scheduler schedule's expression, zone, target, role and
input), and the SES identity
`notify.from` is created (the template does not create it). ministack must run with
AWS_ENDPOINT_URL=<its own URL> in its environment (it hands that to the function process).

1. SQS batch: 25 good and 2 poison quotes, sent the way the poller sends them; then, polling
   against a deadline, until the table holds the 25 good quotes (values checked exactly),
   ministack's SES outbox holds digests that list each of them exactly once and one alert mail
   for each quote above the rule's level (the alert table, the ledger's conditional writes and
   the alert mail as deployed), the dead-letter queue holds exactly the 2 poison messages and
   the queue is empty.
2. With --source-file (the body the pipeline's `source.url` serves): the function is invoked with
   the event the stack's schedule sends (its target's `Input`), must report one request and every record
   queued, and the records then go the same way (the demo response: 12 more stored and e-mailed,
   1 more dead-lettered, as the poller queued it).

Why Python and boto3 rather than a Rust test: deploying and inspecting the stack needs the
CloudFormation, S3, Lambda and EventBridge Scheduler APIs, which the crate does not depend on (SDK crates as
dev-dependencies would cost every `cargo test` build time for a check that runs elsewhere); the
venv exists anyway for ministack and cargo-lambda; and ministack's sent mail is a plain HTTP
endpoint.

Exits 0 when everything holds, 1 with what differs otherwise (the caller prints ministack's log).
"""

import argparse
import base64
import hashlib
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
from botocore.exceptions import ClientError

GOOD = 25
POISON = 2
# Where the poison quotes go among the 27 messages: one in the first batch of 10, one in the
# second, so both partial-failure responses are exercised next to good records.
POISON_AT = (3, 14)
# The demo quotes' lastUpdateTime (Asia/Kolkata), and the same instant as stored (UTC).
LAST_UPDATE_TIME = "18-Mar-2024 15:59:38"
QUOTED_AT = "2024-03-18T10:29:38.000Z"
# The address the template's AlarmEmail parameter subscribes to the alarm topic.
ALARM_EMAIL = "alarms@example.com"

# How long the stack may take to reach CREATE_COMPLETE (ministack: about a second).
STACK_TIMEOUT = 60


class Failed(Exception):
    pass


def log(msg):
    print(f"lambda_e2e: {msg}", flush=True)


# The pipeline's alert rule fires for a quote above this price (tests/fixtures/lambda-e2e).
ALERT_LEVEL = "1010"


def is_alert(mail):
    """Whether `mail` is an alert mail (the rule's subject), not a batch digest."""
    return mail.get("Subject", "").startswith("ALERT ")


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
    """A pipeline duration (`5s`, `2m`, `500ms`) in whole seconds, rounded up, as the template
    gives it to Lambda's MaximumBatchingWindowInSeconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)", str(duration).strip())
    if not m:
        raise Failed(f"cannot read the duration {duration!r} (want e.g. 5s, 2m, 500ms)")
    n, unit = int(m.group(1)), m.group(2)
    return {"ms": -(-n // 1000), "s": n, "m": n * 60}[unit]


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
    def __init__(self, endpoint, zip_path, pipeline_path, template_path, env, timeout):
        self.endpoint = endpoint.rstrip("/")
        self.zip_path = zip_path
        self.pipeline_file = os.path.basename(pipeline_path)
        self.p = load_pipeline(pipeline_path)
        self.template_path = template_path
        self.env = env
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
        self.s3 = boto3.client("s3", **kw)
        self.cfn = boto3.client("cloudformation", **kw)
        self.scheduler = boto3.client("scheduler", **kw)
        self.cw = boto3.client("cloudwatch", **kw)
        self.sns = boto3.client("sns", **kw)
        self.t0 = time.monotonic()
        self.item_shown = False

    def elapsed(self):
        return f"{time.monotonic() - self.t0:5.1f}s"

    # --- set-up, as the README deploys it --------------------------------------------------------

    def deploy_stack(self):
        """FUNCTION.zip to S3, TEMPLATE.yaml as a stack with its parameters; waits for
        CREATE_COMPLETE (the stack's events on anything else) and reads the outputs."""
        p = self.p
        with open(self.template_path, encoding="utf-8") as f:
            body = f.read()
        self.template = yaml.safe_load(body)  # long-form intrinsics only: plain YAML
        self.stack = p["name"]
        bucket, key = f"{p['name']}-code", f"{p['name']}/{os.path.splitext(self.pipeline_file)[0]}.zip"
        self.s3.create_bucket(Bucket=bucket)
        with open(self.zip_path, "rb") as f:
            code = f.read()
        self.code = {"CodeSize": len(code),
                     "CodeSha256": base64.b64encode(hashlib.sha256(code).digest()).decode()}
        self.s3.put_object(Bucket=bucket, Key=key, Body=code)
        log(f"{self.elapsed()} s3://{bucket}/{key} ({len(code) / 1e6:.1f} MB package)")

        params = {"CodeBucket": bucket, "CodeKey": key, "AlarmEmail": ALARM_EMAIL}
        params.update({pascal(var): value for var, value in self.env.items()})
        declared = self.template.get("Parameters") or {}
        if set(declared) != set(params):
            raise Failed(f"{self.template_path} declares the parameters {sorted(declared)}, want "
                         f"{sorted(params)} (CodeBucket, CodeKey, AlarmEmail and one per --env "
                         "variable)")
        started = time.monotonic()
        try:
            self.cfn.create_stack(
                StackName=self.stack, TemplateBody=body, Capabilities=["CAPABILITY_IAM"],
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            )
        except ClientError as e:
            raise Failed(f"CreateStack {self.stack} from {self.template_path}: {e}") from e
        deadline = started + STACK_TIMEOUT
        while True:
            stack = self.cfn.describe_stacks(StackName=self.stack)["Stacks"][0]
            status = stack["StackStatus"]
            if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        took = time.monotonic() - started
        resources = self.cfn.list_stack_resources(StackName=self.stack)["StackResourceSummaries"]
        incomplete = [r for r in resources if r["ResourceStatus"] != "CREATE_COMPLETE"]
        missing = set(self.template["Resources"]) - {r["LogicalResourceId"] for r in resources}
        if status != "CREATE_COMPLETE" or incomplete or missing:
            raise Failed(f"stack {self.stack}: {status} after {took:.1f} s (deadline "
                         f"{STACK_TIMEOUT} s); not created: {sorted(missing)}; its events:\n"
                         + self.stack_events())
        self.resources = {r["LogicalResourceId"]: r for r in resources}
        log(f"{self.elapsed()} stack {self.stack} CREATE_COMPLETE in {took:.1f} s, "
            f"{len(resources)} resources: "
            + ", ".join(f"{r['LogicalResourceId']} ({r['ResourceType']})" for r in resources))
        out = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        want = {"QueueUrl", "DeadLetterQueueUrl", "TableName", "FunctionName", "FunctionArn"}
        if not want <= set(out):
            raise Failed(f"stack outputs {sorted(out)}, want {sorted(want)}")
        self.queue_url, self.dlq_url = out["QueueUrl"], out["DeadLetterQueueUrl"]
        self.function, self.function_arn = out["FunctionName"], out["FunctionArn"]
        self.table = out["TableName"]

    def stack_events(self):
        try:
            events = self.cfn.describe_stack_events(StackName=self.stack)["StackEvents"]
        except Exception as e:  # noqa: BLE001 - the failure being reported matters more
            return f"  (DescribeStackEvents failed: {e})"
        return "\n".join(
            f"  {e.get('Timestamp')} {e['LogicalResourceId']} ({e.get('ResourceType')}): "
            f"{e['ResourceStatus']} {e.get('ResourceStatusReason') or ''}"
            for e in reversed(events))

    def check_alarms(self):
        """The alarms the template declares (src/deploy/alarms.rs), as CloudWatch has them: on
        their metric, notifying the topic whose e-mail subscription is the AlarmEmail given."""
        errors = []
        ids = [i for i, r in self.template["Resources"].items()
               if r["Type"] == "AWS::CloudWatch::Alarm"]
        # No FeedSilentAlarm here: the fixture's schedule fires once, in 2099, so it has no gap
        # between firings to watch (src/deploy/alarms.rs leaves the alarm out; tests/it/deploy.rs
        # checks it on a schedule that has one). Every alarm the template has is checked below.
        if not {"DeadLetterAlarm", "FunctionErrorsAlarm"} <= set(ids):
            errors.append(f"the template's alarms are {ids}")
        topic = self.resources.get("AlarmTopic", {}).get("PhysicalResourceId")
        names = {i: self.resources[i]["PhysicalResourceId"] for i in ids}
        found = {a["AlarmName"]: a for a in
                 self.cw.describe_alarms(AlarmNames=list(names.values()))["MetricAlarms"]}
        for i, name in names.items():
            want, alarm = self.template["Resources"][i]["Properties"], found.get(name)
            if alarm is None:
                errors.append(f"alarm {i} ({name}) is not in DescribeAlarms")
                continue
            for k in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods",
                      "ComparisonOperator", "TreatMissingData"):
                if alarm.get(k) != want[k]:
                    errors.append(f"alarm {i} {k} {alarm.get(k)!r}, want {want[k]!r}")
            if alarm.get("AlarmActions") != [topic]:
                errors.append(f"alarm {i} actions {alarm.get('AlarmActions')}, want [{topic}]")
        subs = self.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] if topic else []
        if [(s["Protocol"], s["Endpoint"]) for s in subs] != [("email", ALARM_EMAIL)]:
            errors.append(f"topic {topic} subscriptions {subs}, want e-mail to {ALARM_EMAIL}")
        if errors:
            raise Failed("the alarms differ:\n  " + "\n  ".join(errors))
        log(f"{self.elapsed()} alarms {', '.join(ids)} on their metrics, notifying {topic}")

    def check_deployment(self):
        """What the stack made, against the pipeline: the names stockrun uses, the function's
        environment, the redrive, the trigger, the schedule, the alarms."""
        self.check_alarms()
        p, errors = self.p, []
        if self.table != p["table"]:
            errors.append(f"table {self.table}, want {p['table']}")
        table = self.ddb.describe_table(TableName=self.table)["Table"]
        want_keys = [(p["partition"], "HASH")] + ([(p["sort"], "RANGE")] if p["sort"] else [])
        keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        if keys != want_keys or any(types.get(name) != "S" for name, _ in want_keys):
            errors.append(f"table key schema {keys}, attribute types {types}; want {want_keys}, "
                          "all S")
        for url, name in ((self.queue_url, p["queue"]), (self.dlq_url, p["queue"] + "-dlq")):
            if url.rsplit("/", 1)[-1] != name:
                errors.append(f"queue URL {url}, want the queue {name}")
        self.wait_for("the function to be Active", lambda: self.function_state() == "Active", 30)
        fn = self.lam.get_function_configuration(FunctionName=self.function)
        if fn["FunctionArn"] != self.function_arn:
            errors.append(f"function ARN {fn['FunctionArn']}, output says {self.function_arn}")
        # The code is the package uploaded (ministack 1.5.33 creates a function whose S3 object
        # does not exist, and its "invocations" then succeed without running anything).
        for k, v in (("Runtime", "provided.al2023"), ("Handler", "bootstrap"),
                     ("Architectures", ["x86_64"]), *self.code.items()):
            if fn.get(k) != v:
                errors.append(f"function {k} {fn.get(k)!r}, want {v!r}")
        # Only what the pipeline needs: PIPELINE and each of its variables, with this run's value.
        want_env = {"PIPELINE": self.pipeline_file, **self.env}
        env = (fn.get("Environment") or {}).get("Variables", {})
        if env != want_env:
            errors.append(f"function environment {env}, want {want_env}")

        queue = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                              AttributeNames=["All"])["Attributes"]
        redrive = json.loads(queue.get("RedrivePolicy") or "{}")
        want_redrive = {"deadLetterTargetArn": self.queue_arn(self.dlq_url),
                        "maxReceiveCount": p["max_receive_count"]}
        got_redrive = {"deadLetterTargetArn": redrive.get("deadLetterTargetArn"),
                       "maxReceiveCount": int(redrive.get("maxReceiveCount", 0))}  # SQS: text
        if got_redrive != want_redrive:
            errors.append(f"queue redrive policy {redrive}, want {want_redrive}")
        # The AWS rule for an SQS trigger, as the README states it.
        want_vt = 6 * fn["Timeout"] + p["batch_window"]
        if int(queue.get("VisibilityTimeout", -1)) != want_vt:
            errors.append(f"queue visibility timeout {queue.get('VisibilityTimeout')}, want "
                          f"6 x {fn['Timeout']} s + {p['batch_window']} s = {want_vt}")

        esms = self.lam.list_event_source_mappings(FunctionName=self.function)["EventSourceMappings"]
        if len(esms) != 1:
            raise Failed("\n  ".join(errors + [f"{len(esms)} event source mappings, want 1: {esms}"]))
        self.esm_uuid = esms[0]["UUID"]
        self.wait_for(
            "the event source mapping to be Enabled",
            lambda: self.lam.get_event_source_mapping(UUID=self.esm_uuid)["State"] == "Enabled",
            30,
        )
        esm = self.lam.get_event_source_mapping(UUID=self.esm_uuid)
        want_esm = {
            "EventSourceArn": self.queue_arn(self.queue_url),
            "FunctionArn": self.function_arn,
            "BatchSize": p["batch_size"],
            # Stored by ministack 1.5.33 but not applied (it invokes as soon as messages arrive).
            "MaximumBatchingWindowInSeconds": p["batch_window"],
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
        got_esm = {k: esm.get(k) for k in want_esm}
        if got_esm != want_esm:
            errors.append(f"event source mapping {got_esm}, want {want_esm}")

        # The schedule: the expression and zone the template states, enabled, invoking the
        # function with the template's input, as the stack's scheduler role. (ministack's
        # CloudFormation leaves ScheduleExpressionTimezone out, so it reports UTC: the pipeline
        # this runs is in UTC.)
        props = self.template["Resources"]["Schedule"]["Properties"]
        want_expr, want_zone = props["ScheduleExpression"], props["ScheduleExpressionTimezone"]
        self.schedule_input = props["Target"]["Input"]
        schedule_name = self.resources["Schedule"]["PhysicalResourceId"]
        schedule = self.scheduler.get_schedule(Name=schedule_name)
        target = schedule.get("Target", {})
        role = self.resources["SchedulerRole"]["PhysicalResourceId"]
        if not re.fullmatch(r"cron\(.+\)", want_expr):
            errors.append(f"the template's schedule is {want_expr!r}, want cron(...)")
        got = (schedule.get("ScheduleExpression"), schedule.get("ScheduleExpressionTimezone"),
               schedule.get("State"))
        if got != (want_expr, want_zone, "ENABLED"):
            errors.append(f"schedule {schedule_name}: {got}, want {(want_expr, want_zone, 'ENABLED')}")
        if target.get("Arn") != self.function_arn or target.get("Input") != self.schedule_input:
            errors.append(f"schedule {schedule_name} targets {target}, want the function "
                          f"{self.function_arn} with {self.schedule_input}")
        if not str(target.get("RoleArn", "")).endswith(f"/{role}"):
            errors.append(f"schedule {schedule_name} role {target.get('RoleArn')!r}, want the "
                          f"stack's SchedulerRole ({role})")
        if errors:
            raise Failed("\n  ".join(["the stack does not match the pipeline:"] + errors))
        log(f"{self.elapsed()} function {self.function_arn}: environment "
            + ", ".join(f"{k}={v}" for k, v in env.items()) + f", timeout {fn['Timeout']} s")
        log(f"{self.elapsed()} table {self.table}, queue {p['queue']} (DLQ after "
            f"{p['max_receive_count']} receives, visibility {want_vt} s)")
        log(f"{self.elapsed()} event source mapping {self.esm_uuid}: BatchSize "
            f"{p['batch_size']}, MaximumBatchingWindowInSeconds {p['batch_window']}, "
            "ReportBatchItemFailures")
        log(f"{self.elapsed()} schedule {schedule_name}: {want_expr} in {want_zone}, ENABLED, "
            "target the function")

        self.ses.create_email_identity(EmailIdentity=p["from"])
        log(f"{self.elapsed()} SES sender {p['from']}")

    def queue_arn(self, url):
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]

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
        return [line for m in emails if not is_alert(m)
                for line in (m.get("BodyText") or "").splitlines() if line]

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

        # SES: one alert mail per quote above the rule's level (the rule fires once per symbol:
        # each symbol has one quote), each exactly once.
        emails = self.emails()
        alerts = sorted(m.get("Subject", "") for m in emails if is_alert(m))
        want_alerts = sorted(f"ALERT {s} above {ALERT_LEVEL}" for s, (pr, *_) in want.items()
                             if Decimal(pr) > Decimal(ALERT_LEVEL))
        if alerts != want_alerts:
            errors.append(f"alert mails {alerts}, want {want_alerts}")
        log(f"{label}: {len(alerts)} alert e-mails")
        # SES: digests listing every stored quote exactly once; the subject counts the lines.
        emails = [m for m in emails if not is_alert(m)]
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
        """Invokes the function with the stack's scheduled event: it polls the source (a local
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
        # The event the stack's schedule sends: its target's input, with the context attribute
        # EventBridge Scheduler fills in.
        event = json.loads(self.schedule_input.replace(
            "<aws.scheduler.scheduled-time>",
            datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")))
        before = time.monotonic()
        r = self.lam.invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
        payload = r["Payload"].read().decode()
        log(f"{self.elapsed()} scheduled event -> {payload} ({time.monotonic() - before:.1f} s)")
        if r.get("FunctionError"):
            raise Failed(f"the scheduled invocation failed ({r['FunctionError']}): {payload}")
        counts = json.loads(payload)
        want_counts = {"pipeline": self.p["name"], "requests": 1, "failed_feeds": 0,
                       "fetched": len(quotes), "queued": len(quotes), "too_large": 0,
                       "alerts_mailed": 0}
        if counts != want_counts:
            raise Failed(f"scheduled poll returned {counts}, want {want_counts}")
        self.check_feed_status(len(quotes))
        self.sent_at = time.monotonic()
        self.want.update({
            q["symbol"]: (q["lastPrice"], q["dayHigh"], q["dayLow"], kolkata_to_utc(q["lastUpdateTime"]))
            for q in good
        })
        self.dead += [poller_message(self.p["name"], q["symbol"]) for q in poison]
        self.wait_until_settled(len(self.want), len(self.dead))
        self.check(self.want, self.dead, "scheduled poll")

    def check_feed_status(self, records):
        """The scheduled poll recorded its feed's status for `stockrun serve` in the alert table
        (`pk = feed`, `sk = -` for a source without `feeds`): outcome ok, the records it fetched."""
        table = f"{self.p['table']}-alerts"
        item = self.ddb.get_item(TableName=table, Key={"pk": {"S": "feed"}, "sk": {"S": "-"}},
                                 ConsistentRead=True).get("Item")
        if not item:
            raise Failed(f"the scheduled poll recorded no feed status in {table} (pk=feed, sk=-)")
        got = (item.get("outcome", {}).get("S"), int(item.get("records", {}).get("N", "-1")))
        if got != ("ok", records):
            raise Failed(f"feed status in {table}: outcome/records {got}, want ('ok', {records})")
        log(f"feed status: {got[0]}, {got[1]} records, polled at {item.get('polled_at', {})}")

    def run(self, source_file):
        self.deploy_stack()
        self.check_deployment()
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


def pascal(var):
    """A pipeline variable's template parameter, as the README names it (RAPIDAPI_KEY ->
    RapidapiKey)."""
    return "".join(w.capitalize() for w in var.split("_") if w)


def env_pair(text):
    var, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
        raise argparse.ArgumentTypeError(f"{text!r}: want VAR=VALUE")
    return var, value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoint", required=True, help="ministack, http://127.0.0.1:PORT")
    ap.add_argument("--zip", required=True, help="the deployment package (scripts/package-lambda)")
    ap.add_argument("--pipeline", required=True, help="the pipeline file packaged in --zip")
    ap.add_argument("--template", required=True,
                    help="`stockrun deploy-template` of --pipeline (YAML or JSON)")
    ap.add_argument("--env", type=env_pair, action="append", default=[], metavar="VAR=VALUE",
                    help="a variable the pipeline references, and its value for this run "
                         "(the template parameter of that variable)")
    ap.add_argument("--source-file",
                    help="the response the pipeline's source URL serves: also test a scheduled poll")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds after sending until the end state must be reached")
    a = ap.parse_args()
    for path in (a.zip, a.pipeline, a.template) + ((a.source_file,) if a.source_file else ()):
        if not os.path.isfile(path):
            sys.exit(f"lambda_e2e: error: {path}: no such file")
    try:
        Scenario(a.endpoint, a.zip, a.pipeline, a.template, dict(a.env), a.timeout).run(
            a.source_file)
    except (Failed, ClientError) as e:  # an AWS call that fails is a failure like any other
        log(f"FAIL: {e}")
        sys.exit(1)

if __name__ == "__main__":
    main()
