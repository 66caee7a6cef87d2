//! The command line as the user types it: clap's definitions of every subcommand, option and help
//! text, and nothing else. Parsing does no I/O (clap reads `STOCKRUN_STATE_DIR` and
//! `STOCKRUN_SMTP_URL` as option defaults); `settings` turns what was typed into the options the
//! commands take, and clap's usage errors exit 2 before anything runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// What `stockrun --help` prints after the options: examples, then the exit statuses
/// (`crate::exit::ExitStatus`).
const AFTER_HELP: &str = "\
Examples:
  stockrun validate pipeline.yaml
  stockrun run pipeline.yaml --once             # poll once, drain the queue, print a summary
  API_KEY=... stockrun run pipeline.yaml        # poll on the schedule and process, until Ctrl-C
  stockrun show pipeline.yaml --limit 5         # what the store holds
  stockrun run pipeline.yaml --dry-run          # what one poll would queue, store and mail
  stockrun echo pipeline.yaml                   # the pipeline resolved, secrets redacted
  stockrun invoke pipeline.yaml --event sqs     # the Lambda handler, in this process
  stockrun init pipeline.yaml --backend aws     # create the queue, table and SES identity
  stockrun deploy-template pipeline.yaml > pipeline.cfn.yaml   # CloudFormation for Lambda
  stockrun schema > pipeline.schema.json

Exit status:
  0  success (output cut short by a closed pipe, as in `stockrun show FILE | head`, too)
  1  the pipeline is invalid or cannot be read
  2  usage error: an unknown option, a missing or bad argument, options that do not go together
  3  failure at run time: the source, queue, store, e-mail or AWS failed (see the error)

The pipeline format: `stockrun schema`. Logs go to stderr; set STOCKRUN_LOG=debug for more.";

/// What `stockrun invoke --help` prints after the options.
const INVOKE_AFTER_HELP: &str = "\
Examples:
  stockrun invoke pipeline.yaml --event schedule            # poll once, queue locally
  stockrun invoke pipeline.yaml --event sqs                 # a batch of what one poll fetches
  stockrun invoke pipeline.yaml --event sqs --records bodies.json --backend aws
  stockrun invoke --print-event sqs > event.json";

/// What `stockrun deploy-template --help` prints after the options.
const DEPLOY_TEMPLATE_AFTER_HELP: &str = "\
Examples:
  stockrun deploy-template pipeline.yaml > pipeline.cfn.yaml
  stockrun deploy-template pipeline.yaml --function-timeout 2m --memory-size 512
  stockrun deploy-template pipeline.yaml --format json
  stockrun deploy-template pipeline.yaml --secrets-manager stockrun/pipeline   # {\"API_KEY\": ...}
  aws cloudformation deploy --stack-name stockrun-pipeline --template-file pipeline.cfn.yaml \\
    --capabilities CAPABILITY_IAM \\
    --parameter-overrides CodeBucket=my-bucket CodeKey=stockrun.zip ApiKey=\"$API_KEY\"";

/// Run data pipelines described in one YAML file: poll a REST API, queue each record, keep the
/// fields you pick, store them, and e-mail a digest.
#[derive(Debug, Parser)]
#[command(
    name = "stockrun",
    version,
    about,
    propagate_version = true,
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the process's command line; a usage error (or `--help`, `--version`) prints clap's
/// message and exits (2 for an error, 0 otherwise) before anything runs. The one entry point, so
/// clap stays inside this module.
pub fn parse() -> Cli {
    Cli::parse_from(help_of_help(std::env::args_os().collect()))
}

/// `stockrun help --help` (or `-h`) as `stockrun --help`: clap takes the `--help` for the name of
/// a subcommand and refuses it, though asking for help is never a usage error.
fn help_of_help(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    if args.len() == 3 && args[1] == "help" && (args[2] == "--help" || args[2] == "-h") {
        args.truncate(1);
        args.push("--help".into());
    }
    args
}

/// Parses `args` (the program name first) without exiting: for tests of what the command line
/// resolves to.
#[cfg(test)]
pub(crate) fn try_parse_from(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check pipeline files and print every problem, with file:line:column.
    ///
    /// Exit status: 0 when no file has an error (warnings are allowed), 1 when any file has an
    /// error or cannot be read, 2 on a usage error. Environment variables that are not set are
    /// warnings, so CI can validate without secrets.
    Validate {
        /// Pipeline files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
        /// Treat warnings as errors (exit 1 when there is any warning).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of the pipeline format (draft-07), for editors and CI.
    Schema,
    /// Run the pipeline: poll on its schedule and process what is queued, until Ctrl-C.
    ///
    /// With `--once`: poll once, process everything queued, print a one-line summary and exit.
    /// SIGINT/SIGTERM stop polling and finish the batch in hand; a second signal quits at once
    /// (messages in flight are delivered again later, nothing is lost).
    ///
    /// Several pipelines in one process: give a directory (every `*.yaml`/`*.yml` in it but
    /// test files, `*.cfn.yaml` templates and hidden files) or several files. Each pipeline keeps its own state (database file, queue,
    /// table) and its own log span (`pipeline{name=…}`); one that fails stops alone and the
    /// others go on. Nothing starts when any file is invalid or two pipelines share a name: every
    /// error is printed. The summaries are printed per pipeline, and the exit status is the worst
    /// of them.
    ///
    /// With `--watch`: a changed file is reloaded once it validates (an edit with errors is
    /// logged with file:line:column, and the running version goes on): the old version queues
    /// the poll in progress, polls no more and finishes the batch in hand, then the new one starts on the same queue and
    /// state, so no record is lost or handled twice.
    ///
    /// Exit status 3 with `--once` when every request to the API failed, when records could not
    /// be queued, or when a digest e-mail was not sent (its records are stored); with or without
    /// `--once` when the queue or store kept failing (what was queued stays queued). 1 when the
    /// pipeline is invalid, 2 on a usage error (`stockrun --help` lists every status).
    #[command(after_help = RUN_AFTER_HELP)]
    Run {
        /// The pipeline (a file, or a directory of pipelines) and where its stages run.
        #[command(flatten)]
        target: Target,
        /// More pipelines, run in the same process: files, or directories of pipeline files (the
        /// first FILE may be a directory too).
        #[arg(value_name = "FILE")]
        more: Vec<PathBuf>,
        /// Reload a pipeline file when it changes and the change validates, and start a
        /// pipeline file that appears in a given directory (checked every second); run until
        /// Ctrl-C.
        #[arg(long, conflicts_with_all = ["once", "dry_run"])]
        watch: bool,
        /// How records are received and mailed.
        #[command(flatten)]
        delivery: Delivery,
        /// Poll once, drain the queue, print a summary and exit.
        #[arg(long)]
        once: bool,
        /// Poll once and process for real, print what would be queued, stored, dead-lettered
        /// and mailed (the e-mails rendered), and write nothing: no queue, store, outbox, SMTP
        /// or AWS call (alert rules are not evaluated).
        #[arg(long)]
        dry_run: bool,
        /// Serve metrics over HTTP on ADDR while running: `/metrics` (Prometheus text), `/ready`
        /// (200 once the pipeline is loaded and its stages are open) and `/live`. A bare port
        /// listens on 127.0.0.1; give `0.0.0.0:PORT` to be scraped from elsewhere. Off by default;
        /// not with `--once`. The README's "Metrics" lists what is served.
        #[arg(long, value_name = "ADDR", conflicts_with_all = ["once", "dry_run"], value_parser = metrics_address)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Only poll: fetch on the schedule and queue every record (pair with `consume`).
    ///
    /// Exit status 3 with `--once` when every request to the API failed or when records could not
    /// be queued; with or without `--once` when the queue fails in a way trying again cannot fix.
    /// 1 when the pipeline is invalid (an unset `${VAR}` too), 2 on a usage error (`stockrun
    /// --help` lists every status).
    Poll {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// Poll once, print a summary and exit.
        #[arg(long)]
        once: bool,
        /// Poll once for real and print the messages that would be queued, without queueing
        /// them (nothing is written).
        #[arg(long)]
        dry_run: bool,
        /// Serve metrics over HTTP on ADDR while running: `/metrics` (Prometheus text), `/ready`
        /// (200 once the pipeline is loaded and its stages are open) and `/live`. A bare port
        /// listens on 127.0.0.1; give `0.0.0.0:PORT` to be scraped from elsewhere. Off by default;
        /// not with `--once`. The README's "Metrics" lists what is served.
        #[arg(long, value_name = "ADDR", conflicts_with_all = ["once", "dry_run"], value_parser = metrics_address)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Only consume: process, store and e-mail what is queued (several can share a queue).
    ///
    /// Exit status 3 with `--once` when a digest e-mail was not sent (its records are stored);
    /// with or without `--once` when the queue or store kept failing (what was queued stays
    /// queued). 1 when the pipeline is invalid, 2 on a usage error (`stockrun --help` lists every
    /// status).
    Consume {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// How records are received and mailed.
        #[command(flatten)]
        delivery: Delivery,
        /// Drain the queue, print a summary and exit.
        #[arg(long)]
        once: bool,
        /// Serve metrics over HTTP on ADDR while running: `/metrics` (Prometheus text), `/ready`
        /// (200 once the pipeline is loaded and its stages are open) and `/live`. A bare port
        /// listens on 127.0.0.1; give `0.0.0.0:PORT` to be scraped from elsewhere. Off by default;
        /// not with `--once`. The README's "Metrics" lists what is served.
        #[arg(long, value_name = "ADDR", conflicts_with = "once", value_parser = metrics_address)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Print what the store holds, newest first, as a table or as data (JSON, NDJSON, CSV).
    ///
    /// `--format json|ndjson|csv` prints only the rows, with the values as stored (numbers with
    /// their exact digits); the table ends with a line saying how many items there are.
    Show {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// Show at most this many rows.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// List the dead-letter queue (poison records and why) instead of the store. On AWS the
        /// messages are looked at and left in the SQS dead-letter queue.
        #[arg(long)]
        dead: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
        /// Only items inserted since then: a duration back from now (`2h`, `7d`), a date
        /// (`2024-03-18`, UTC) or an RFC 3339 time. Reads the whole table (or series).
        #[arg(long, value_name = "DURATION|TIME", value_parser = crate::commands::show::Since::parse, conflicts_with = "dead")]
        since: Option<crate::commands::show::Since>,
        /// Only the items of this series (a partition key value, such as `INFY`).
        #[arg(long, value_name = "KEY", conflicts_with = "dead")]
        series: Option<String>,
        /// Only these columns, in this order, such as `symbol,price`.
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        columns: Option<Vec<String>>,
    },
    /// Replay the stored history through the alert rules and print what would have fired.
    ///
    /// Each series (the records sharing the partition key) is replayed in sort-key order from
    /// a fresh state, through the same evaluation the live run uses; prints per rule how many
    /// alerts would have fired per day, and the first few with the record that raised each.
    /// Nothing is written or mailed. Exit status 1 when the pipeline has no rules.
    Backtest {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// Replay only the records of the last this long, such as `30d` (by each record's time).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Replay only this series (a partition key value, such as `INFY`).
        #[arg(long, value_name = "KEY")]
        series: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
    },
    /// Serve a read-only page of the pipeline: per series the latest values, their change and a
    /// chart; each feed's last poll, outcome and quota left; recent alerts; the queue and the
    /// dead letters with reasons.
    ///
    /// Server-rendered HTML (no JavaScript) that refreshes every minute; `/page.json` is the same
    /// data as JSON. Reads the state a `run` (or the deployed Lambda, with `--backend aws`)
    /// writes, and writes nothing. Stops on Ctrl-C or SIGTERM.
    Serve {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// Where to listen: `HOST:PORT`, or a bare port for 127.0.0.1 (loopback: the page is
        /// not meant for the open network).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR", value_parser = metrics_address)]
        listen: std::net::SocketAddr,
    },
    /// Draw each series' stored values over time as a PNG or SVG chart.
    ///
    /// One panel per series, in one image: the value as a line, the low–high band shaded
    /// behind it and the alerts marked (▲ fired, ▼ re-armed), time in the pipeline's
    /// `source.timezone` (else UTC) or `--timezone`. The fields drawn are the pipeline's
    /// `chart` section (`value`, `band`, `time`), or `--value`, `--band`, `--time`; without
    /// either, the pipeline's one number field. On AWS each series is read by Query on its
    /// partition key, so `--series` is required there.
    #[command(after_help = CHART_AFTER_HELP)]
    Chart {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// The image to write: `.png` or `.svg` (the extension is the format).
        #[arg(short = 'o', long, value_name = "FILE.png|FILE.svg")]
        output: PathBuf,
        /// Draw this series (a partition key value, such as `INFY`); repeat for several.
        /// Default: every series (local backend only).
        #[arg(long, value_name = "KEY")]
        series: Vec<String>,
        /// Only the records since then: a duration back from now (`7d`), a date (`2024-03-18`,
        /// UTC) or an RFC 3339 time. Default: all stored.
        #[arg(long, value_name = "DURATION|TIME", value_parser = crate::commands::show::Since::parse)]
        since: Option<crate::commands::show::Since>,
        /// The time zone of the time axis (IANA name, such as `Asia/Kolkata`).
        #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
        timezone: Option<chrono_tz::Tz>,
        /// The number field drawn as the line (instead of `chart.value`).
        #[arg(long, value_name = "FIELD")]
        value: Option<String>,
        /// The number fields of the band, low then high (instead of `chart.band`).
        #[arg(long, value_name = "LOW,HIGH", value_parser = parse_band)]
        band: Option<(String, String)>,
        /// The timestamp field that places a record in time (instead of `chart.time`).
        #[arg(long, value_name = "FIELD")]
        time: Option<String>,
        /// Image width in pixels (200 to 4000).
        #[arg(long, default_value_t = crate::chart::DEFAULT_WIDTH, value_parser = clap::value_parser!(u32).range(200..=4000))]
        width: u32,
        /// Height of each series' panel in pixels (200 to 4000).
        #[arg(long, default_value_t = crate::chart::DEFAULT_PANEL_HEIGHT, value_parser = clap::value_parser!(u32).range(200..=4000))]
        height: u32,
    },
    /// Create what the pipeline needs on AWS when it is missing (for development): the queue and
    /// its dead-letter queue with the redrive policy, the DynamoDB table and its alert table
    /// (alert state, each feed's last poll), the SES sender identity.
    ///
    /// Prints one line per resource, `created` or `exists`; running it again changes nothing.
    /// Uses the standard AWS configuration (`AWS_REGION`, credentials or `AWS_PROFILE`,
    /// `AWS_ENDPOINT_URL` for moto or LocalStack). The local backend needs nothing.
    Init {
        /// The pipeline and where its stages run.
        #[command(flatten)]
        target: Target,
        /// The queue's visibility timeout, and whether e-mail needs an SES identity.
        #[command(flatten)]
        delivery: Delivery,
    },
    /// Print the CloudFormation template that runs the pipeline on AWS Lambda (for production).
    ///
    /// The template creates the queue and its dead-letter queue (redrive after
    /// `max_receive_count` receives), the DynamoDB table, the Lambda function (provided.al2023,
    /// x86_64, code from the `CodeBucket`/`CodeKey` parameters) with its SQS trigger (batches of
    /// `batch_size`, `batch_window`, partial-batch failures) and its EventBridge Scheduler
    /// schedule (from `source.schedule`, in `source.timezone`, with `source.active` folded in), a
    /// log group, and roles allowed only what they need: the function's the calls stockrun makes,
    /// on those resources; the schedule's invoking the function. Names are the ones
    /// `run --backend aws` uses.
    ///
    /// Every `${VAR}` in the pipeline becomes a template parameter, passed to the function as the
    /// variable of the same name: secrets (such as the API's key) are `NoEcho` parameters
    /// without a default, the others default to their `${VAR:-default}`. Nothing is read from
    /// the environment. A schedule EventBridge cannot express (more than once a minute; both
    /// day-of-month and day-of-week restricted) is an error.
    #[command(after_help = DEPLOY_TEMPLATE_AFTER_HELP)]
    DeployTemplate {
        /// The pipeline file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Output format (CloudFormation reads both).
        #[arg(long, value_enum, default_value_t = TemplateFormat::Yaml)]
        format: TemplateFormat,
        /// The function's timeout, in whole seconds up to 15m. The queue's visibility timeout is
        /// 6 times this plus the batch window (the AWS rule for an SQS trigger).
        #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = humantime::parse_duration)]
        function_timeout: Duration,
        /// The function's memory, in MB.
        #[arg(long, default_value_t = 256, value_name = "MB", value_parser = clap::value_parser!(u32).range(128..=10240))]
        memory_size: u32,
        /// The pipeline file's path inside the function's zip, relative to its root (the
        /// function's `PIPELINE` variable). Default: FILE's base name.
        #[arg(long, value_name = "PATH")]
        pipeline_path: Option<String>,
        /// The function's name (1 to 64 letters, digits, `-`, `_`). Default:
        /// `stockrun-<pipeline name>`.
        #[arg(long, value_name = "NAME")]
        function_name: Option<String>,
        /// Days the function's log group keeps its logs (a value CloudWatch Logs accepts).
        #[arg(long, default_value_t = 30, value_name = "DAYS", value_parser = log_retention_days)]
        log_retention_days: u32,
        /// Take the secret variables from this Secrets Manager secret (name or ARN) instead of
        /// `NoEcho` parameters: its JSON keys are the variables' names, such as
        /// `{"API_KEY": "..."}`. CloudFormation resolves them when it deploys.
        #[arg(long, value_name = "SECRET")]
        secrets_manager: Option<String>,
    },
    /// Run the test cases beside pipelines: recorded responses at virtual times through the
    /// whole pipeline, offline, compared with what each case expects.
    ///
    /// The cases of `NAME.yaml` are in `NAME.test.yaml` beside it. Each case plays its recorded
    /// responses in order, each at its virtual time, through the real queue, processing, store,
    /// alert rules and outbox on a throwaway state directory (no network, no AWS, no process
    /// environment: `${VAR}`s take the test file's `env`), then compares the stored items (exact,
    /// `inserted_at` from the virtual time), the dead-lettered records and their reasons, the
    /// alerts raised and the rejected responses with the case's `expect`, and the e-mails
    /// (subject, text, HTML) with its snapshot file, `NAME.snapshots/CASE.txt`.
    #[command(after_help = TEST_AFTER_HELP)]
    Test {
        /// Test files, pipelines (with their test file beside them) or directories (every
        /// `*.test.yaml` in them). Default: the current directory.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write the e-mail snapshots that are missing or differ, instead of failing on them.
        #[arg(long)]
        update: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
        format: ValidateFormat,
    },
    /// Print the pipeline fully resolved: every default filled in, every `${VAR}` substituted,
    /// secrets shown as `<redacted>`.
    ///
    /// The output is itself a pipeline: saved (with the secrets' `<redacted>` put back as
    /// `${VAR}`s, or as it is for a look), `stockrun validate` accepts it and it means the
    /// same. Exit status 1 when the pipeline is invalid (an unset `${VAR}` is a warning, and
    /// stays `${VAR}`).
    Echo {
        /// The pipeline file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = EchoFormat::Yaml)]
        format: EchoFormat,
    },
    /// Run the Lambda handler in this process with the event AWS would send, and print its
    /// response (`batchItemFailures` for an SQS batch, the poll's counts for a schedule).
    ///
    /// `--event sqs` builds an SQS event source mapping batch from `--records` (a JSON array of
    /// message bodies, or of records, each wrapped as the poller wraps it), else from one real
    /// poll of the source; `--event schedule` builds the EventBridge Scheduler event, so the
    /// handler polls and queues. With the local backend the state directory stands in for
    /// SQS, DynamoDB and SES. `--print-event` only prints a sample event. Exit status 3 when
    /// the handler fails the invocation (Lambda would retry it), 1 when the pipeline is invalid.
    #[command(after_help = INVOKE_AFTER_HELP)]
    Invoke {
        /// The pipeline file (not with `--print-event`).
        #[arg(
            value_name = "FILE",
            required_unless_present = "print_event",
            conflicts_with = "print_event"
        )]
        file: Option<PathBuf>,
        /// The event to invoke the handler with.
        #[arg(
            long,
            value_enum,
            value_name = "KIND",
            required_unless_present = "print_event"
        )]
        event: Option<EventKind>,
        /// With `--event sqs`: a JSON file holding an array of message bodies or records.
        #[arg(long, value_name = "FILE", conflicts_with = "print_event")]
        records: Option<PathBuf>,
        /// Print a sample event of this kind (as AWS sends it) and exit.
        #[arg(long, value_enum, value_name = "KIND", conflicts_with = "event")]
        print_event: Option<EventKind>,
        /// Where the queue, store and e-mail live.
        #[arg(long, value_enum, default_value_t = BackendArg::Local)]
        backend: BackendArg,
        /// Directory of the local backend's database files and e-mail outbox.
        #[arg(
            long,
            env = "STOCKRUN_STATE_DIR",
            default_value = ".stockrun",
            value_name = "DIR"
        )]
        state_dir: PathBuf,
    },
    /// Print the shell completion script for SHELL.
    ///
    /// bash: `stockrun completions bash > ~/.local/share/bash-completion/completions/stockrun`;
    /// zsh: `stockrun completions zsh > ~/.zfunc/_stockrun` (with `~/.zfunc` in `fpath`); fish:
    /// `stockrun completions fish > ~/.config/fish/completions/stockrun.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of stockrun, or write one page per subcommand into a directory.
    ///
    /// `stockrun man | man -l -` reads it; `stockrun man --dir /usr/local/share/man/man1`
    /// installs `stockrun.1`, `stockrun-run.1`, ….
    Man {
        /// Write `stockrun.1` and a page per subcommand into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// What `stockrun run --help` prints after the options.
const RUN_AFTER_HELP: &str = "\
Examples:
  stockrun run pipeline.yaml --once             # poll once, drain the queue, print a summary
  stockrun run conf/                            # every pipeline in conf/, one process, until Ctrl-C
  stockrun run a.yaml b.yaml --once             # each polls once and drains; the worst status
  stockrun run conf/ --watch                    # reload an edited file once it validates";

/// What `stockrun test --help` prints after the options.
const TEST_AFTER_HELP: &str = "\
Examples:
  stockrun test pipeline.yaml                   # the cases in pipeline.test.yaml
  stockrun test conf/                           # every *.test.yaml in that directory
  stockrun test pipeline.test.yaml --update     # write the e-mail snapshots, then review them
  stockrun test --format json                   # for CI

Exit status: 0 when every case passes, 1 when a case fails or a test file or its pipeline
cannot be used, 2 on a usage error.";

const CHART_AFTER_HELP: &str = "\
Examples:
  stockrun chart pipeline.yaml -o all.png                          # every series, all stored
  stockrun chart pipeline.yaml --series INFY --since 7d -o infy.svg
  stockrun chart pipeline.yaml --value close --band low,high --timezone America/New_York -o c.png";

/// Two field names, `LOW,HIGH`, for `chart --band`.
fn parse_band(text: &str) -> Result<(String, String), String> {
    match text
        .split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [low, high] if !low.is_empty() && !high.is_empty() => {
            Ok(((*low).to_owned(), (*high).to_owned()))
        }
        _ => Err(format!(
            "`{text}` is not two field names, low then high, such as `low,high`"
        )),
    }
}

/// An IANA time zone name, for `chart --timezone`.
fn parse_zone(text: &str) -> Result<chrono_tz::Tz, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IANA time zone name, such as `Europe/Berlin`"))
}

/// The pipeline file and where its state lives: the options every command that runs stages or
/// reads their state shares (`run`, `poll`, `consume`, `show`, `backtest`, `init`, `invoke`).
#[derive(Debug, Args)]
pub struct Target {
    /// The pipeline file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where the queue, store and e-mail live.
    #[arg(long, value_enum, default_value_t = BackendArg::Local)]
    pub backend: BackendArg,
    /// Directory of the local backend's database files and e-mail outbox.
    #[arg(
        long,
        env = "STOCKRUN_STATE_DIR",
        default_value = ".stockrun",
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
}

/// How records are received and mailed: the options of the commands that consume the queue or
/// set it up (`run`, `consume`, `init`); `poll`, `show` and `backtest` neither receive nor mail,
/// so their `--help` does not list these.
#[derive(Debug, Default, Args)]
pub struct Delivery {
    /// Send e-mail through this SMTP server instead of the outbox, such as
    /// `smtp://127.0.0.1:1025` or `smtps://user:password@host`. Output and errors name the
    /// server as `scheme://host:port` only; the user name and password are never shown.
    #[arg(
        long,
        env = "STOCKRUN_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp: Option<String>,
    /// How long a received message stays hidden from other consumers before it is delivered
    /// again (default: the batch window plus 30s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub visibility_timeout: Option<Duration>,
}

/// `--metrics ADDR` and `serve --listen ADDR`: `HOST:PORT`, or a port on 127.0.0.1
/// (`crate::http::listen_address`).
fn metrics_address(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::http::listen_address(text).map_err(|error| error.to_string())
}

/// `--backend`: where the stages run (`runtime::backend::BackendKind` once resolved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Embedded: a SQLite file per pipeline under the state directory, e-mails as `.eml` files.
    #[default]
    Local,
    /// AWS: SQS, DynamoDB and SES v2, configured by the standard AWS environment (`AWS_REGION`,
    /// credentials or a profile, `AWS_ENDPOINT_URL` for moto or LocalStack).
    Aws,
}

/// `validate --format` (`commands::validate::Format` once resolved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// `file:line:column: severity: message`, the source line and a caret.
    #[default]
    Text,
    /// One JSON document with every diagnostic, for editors and CI.
    Json,
}

/// `show --format` (`commands::show::Format` once resolved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// An aligned table, then a line saying how many items there are.
    #[default]
    Table,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header row.
    Csv,
}

/// `deploy-template --format` (`commands::deploy_template::Format` once resolved).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    /// YAML, with a comment saying where it came from and how to deploy it.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// `echo --format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum EchoFormat {
    /// YAML, as a pipeline file is written.
    #[default]
    Yaml,
    /// JSON (also a valid pipeline file: YAML reads JSON).
    Json,
}

/// `invoke --event` and `--print-event`: the invocations the function handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EventKind {
    /// An SQS event source mapping batch.
    Sqs,
    /// An EventBridge Scheduler scheduled event.
    Schedule,
}

/// The clap definition of the whole command line, for what is generated from it (shell
/// completions, man pages).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The retention periods CloudWatch Logs accepts, in days.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// `--log-retention-days`: one of the periods CloudWatch Logs accepts (else a usage error).
fn log_retention_days(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|days| LOG_RETENTION_DAYS.contains(days))
        .ok_or_else(|| {
            let accepted: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
            format!(
                "CloudWatch Logs keeps logs for one of {} days",
                accepted.join(", ")
            )
        })
}

/// The shells `stockrun completions` writes scripts for.
pub use clap_complete::Shell;

// `stockrun completions SHELL` and `stockrun man`: the command line's own documentation,
// generated from its clap definition, so completions and man pages never drift from `--help`.

/// Writes the completion script for `shell` to `out`. Generated in memory first: clap_complete
/// panics on a failed write, and a closed pipe (`stockrun completions bash | head`) must end
/// quietly like any other output.
pub fn completions(shell: Shell, out: &mut impl Write) -> anyhow::Result<()> {
    let mut command = command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "stockrun", &mut script);
    out.write_all(&script)?;
    Ok(())
}

/// Writes the man page of `stockrun` (section 1, roff) to `out`, or, with `dir`, writes
/// `stockrun.1` and one page per subcommand (`stockrun-run.1`, …) into it and names each file
/// on `out`.
pub fn man(dir: Option<&Path>, out: &mut impl Write) -> anyhow::Result<()> {
    let command = command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(out)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stockrun") && name.ends_with(".1"))
        .collect();
    pages.sort();
    for page in pages {
        writeln!(out, "{}", dir.join(page).display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_texts_name_no_api_vendor_and_no_repository_path() {
        let mut command = Cli::command();
        let mut texts = vec![command.render_long_help().to_string()];
        for sub in command.get_subcommands_mut() {
            texts.push(sub.render_long_help().to_string());
        }
        for text in &texts {
            for vendor in [
                "RapidAPI",
                "RAPIDAPI",
                "Rapidapi",
                "X-RapidAPI",
                "Alpha Vantage",
                "Twelve Data",
                "pipelines/",
                "examples/",
            ] {
                assert!(!text.contains(vendor), "`{vendor}` in:\n{text}");
            }
        }
    }

    #[test]
    fn the_top_level_help_lists_every_exit_status() {
        let help = Cli::command().render_long_help().to_string();
        for line in [
            "  0  success",
            "  1  the pipeline",
            "  2  usage",
            "  3  failure",
        ] {
            assert!(help.contains(line), "`{line}` in:\n{help}");
        }
    }

    #[test]
    fn a_log_retention_cloudwatch_refuses_is_a_usage_error() {
        let error = Cli::try_parse_from([
            "stockrun",
            "deploy-template",
            "p.yaml",
            "--log-retention-days",
            "8",
        ])
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ValueValidation);
        assert_eq!(error.exit_code(), 2);
    }
}
