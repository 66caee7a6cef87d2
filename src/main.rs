//! The `stockrun` binary: parses the command line, runs one subcommand, maps its result to an
//! exit status (0 ok, 1 invalid pipeline or failure, 2 usage error).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use stockrun::aws::Aws;
use stockrun::commands::{deploy_template, init, run, schema, show, validate};
use stockrun::config::env::Environment;
use stockrun::runtime::backend::{Backend, BackendKind};

/// Run data pipelines described in one YAML file: poll a REST API, queue each record, keep the
/// fields you pick, store them, and e-mail a digest.
#[derive(Debug, Parser)]
#[command(
    name = "stockrun",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  stockrun run examples/demo.yaml --once     # the offline demo: poll, queue, store, e-mail\n  stockrun show examples/demo.yaml           # what the store holds\n  stockrun validate pipelines/*.yaml\n  stockrun init pipelines/stocks.yaml --backend aws   # create the queue, table and SES identity\n  stockrun deploy-template pipelines/stocks.yaml > stocks.cfn.yaml   # CloudFormation for Lambda\n  RAPIDAPI_KEY=... stockrun run pipelines/stocks.yaml\n  stockrun schema > schemas/pipeline.schema.json\n\nThe pipeline format: README.md, or `stockrun schema`. Logs go to stderr; set STOCKRUN_LOG=debug for more."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files and print every problem, with file:line:column.
    ///
    /// Exit status: 0 when no file has an error (warnings are allowed), 1 when any file has an
    /// error, 2 on a usage error. Environment variables that are not set are warnings, so CI can
    /// validate without secrets.
    Validate {
        /// Pipeline files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = validate::Format::Text)]
        format: validate::Format,
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
    Run {
        #[command(flatten)]
        target: Target,
        /// Poll once, drain the queue, print a summary and exit.
        #[arg(long)]
        once: bool,
    },
    /// Only poll: fetch on the schedule and queue every record (pair with `consume`).
    Poll {
        #[command(flatten)]
        target: Target,
        /// Poll once, print a summary and exit.
        #[arg(long)]
        once: bool,
    },
    /// Only consume: process, store and e-mail what is queued (several can share a queue).
    Consume {
        #[command(flatten)]
        target: Target,
        /// Drain the queue, print a summary and exit.
        #[arg(long)]
        once: bool,
    },
    /// Print what the store holds, newest first, as a table.
    Show {
        #[command(flatten)]
        target: Target,
        /// Show at most this many rows.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// List the dead-letter queue (poison records and why) instead of the store.
        #[arg(long)]
        dead: bool,
    },
    /// Create what the pipeline needs on AWS when it is missing (for development): the queue and
    /// its dead-letter queue with the redrive policy, the DynamoDB table, the SES sender identity.
    ///
    /// Prints one line per resource, `created` or `exists`; running it again changes nothing.
    /// Uses the standard AWS configuration (`AWS_REGION`, credentials or `AWS_PROFILE`,
    /// `AWS_ENDPOINT_URL` for moto or LocalStack). The local backend needs nothing.
    Init {
        #[command(flatten)]
        target: Target,
    },
    /// Print the CloudFormation template that runs the pipeline on AWS Lambda (for production).
    ///
    /// The template creates the queue and its dead-letter queue (redrive after
    /// `max_receive_count` receives), the DynamoDB table, the Lambda function (provided.al2023,
    /// x86_64, code from the `CodeBucket`/`CodeKey` parameters) with its SQS trigger (batches of
    /// `batch_size`, `batch_window`, partial-batch failures) and its EventBridge schedule (from
    /// `source.schedule`), a log group, and a role allowed only the calls stockrun makes, on
    /// those resources. Names are the ones `run --backend aws` uses.
    ///
    /// Every `${VAR}` in the pipeline becomes a template parameter, passed to the function as the
    /// variable of the same name: secrets (such as `RAPIDAPI_KEY`) are `NoEcho` parameters
    /// without a default, the others default to their `${VAR:-default}`. Nothing is read from
    /// the environment. A schedule EventBridge cannot express (more than once a minute; both
    /// day-of-month and day-of-week restricted) is an error.
    #[command(
        after_help = "Examples:\n  stockrun deploy-template pipelines/stocks.yaml > stocks.cfn.yaml\n  stockrun deploy-template pipelines/stocks.yaml --function-timeout 2m --memory-size 512\n  stockrun deploy-template pipelines/stocks.yaml --format json\n  stockrun deploy-template pipelines/stocks.yaml --secrets-manager stockrun/stocks   # {\"RAPIDAPI_KEY\": ...}\n  aws cloudformation deploy --stack-name stockrun-stocks --template-file stocks.cfn.yaml \\\n    --capabilities CAPABILITY_IAM \\\n    --parameter-overrides CodeBucket=my-bucket CodeKey=stockrun.zip RapidapiKey=\"$RAPIDAPI_KEY\""
    )]
    DeployTemplate {
        /// The pipeline file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Output format (CloudFormation reads both).
        #[arg(long, value_enum, default_value_t = deploy_template::Format::Yaml)]
        format: deploy_template::Format,
        /// The function's timeout, in whole seconds up to 15m. The queue's visibility timeout is
        /// 6 times this plus the batch window (the AWS rule for an SQS trigger).
        #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = humantime::parse_duration)]
        function_timeout: std::time::Duration,
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
        /// `{"RAPIDAPI_KEY": "..."}`. CloudFormation resolves them when it deploys.
        #[arg(long, value_name = "SECRET")]
        secrets_manager: Option<String>,
    },
}

/// The retention periods CloudWatch Logs accepts, in days.
const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

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

/// The pipeline file and where its stages run.
#[derive(Debug, Args)]
struct Target {
    /// The pipeline file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Where the queue, store and e-mail live.
    #[arg(long, value_enum, default_value_t = BackendKind::Local)]
    backend: BackendKind,
    /// Directory of the local backend's database files and e-mail outbox.
    #[arg(
        long,
        env = "STOCKRUN_STATE_DIR",
        default_value = ".stockrun",
        value_name = "DIR"
    )]
    state_dir: PathBuf,
    /// Send e-mail through this SMTP server instead of the outbox, such as
    /// `smtp://127.0.0.1:1025` or `smtps://user:password@host` (never shown in output).
    #[arg(
        long,
        env = "STOCKRUN_SMTP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    smtp: Option<String>,
    /// How long a received message stays hidden from other consumers before it is delivered
    /// again (default: the batch window plus 30s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    visibility_timeout: Option<std::time::Duration>,
}

impl Target {
    fn backend(&self) -> Backend {
        Backend {
            kind: self.backend,
            state_dir: self.state_dir.clone(),
            smtp: self.smtp.clone(),
            visibility_timeout: self.visibility_timeout,
            aws: Aws::new(),
        }
    }
}

/// Runs an async command on a tokio runtime; errors go to stderr as `stockrun: error: …`.
fn run_async<F>(command: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<bool>>,
{
    stockrun::logging::init_cli();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("stockrun: error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            // Errors carry what failed, which can quote a secret (a URL, a server's reply).
            let message = format!("{err:#}");
            eprintln!(
                "stockrun: error: {}",
                stockrun::redact::redact_registered(&message)
            );
            ExitCode::from(1)
        }
    }
}

fn halves_options(target: &Target, once: bool, halves: run::Halves) -> run::Options {
    run::Options {
        file: target.file.clone(),
        backend: target.backend(),
        once,
        halves,
    }
}

fn main() -> ExitCode {
    // Deployed as a Lambda function, the same binary serves the runtime API instead.
    if stockrun::runtime::lambda::is_lambda() {
        return stockrun::runtime::lambda::serve();
    }
    let cli = Cli::parse();
    let env = Environment::from_process();
    match cli.command {
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => {
            let options = validate::Options {
                files,
                format,
                deny_warnings,
            };
            print_to_stdout(|out| validate::run(&options, &env, out))
        }
        Command::Schema => print_to_stdout(|out| schema::run(out).map(|()| true)),
        Command::Run { target, once } => {
            let options = halves_options(&target, once, run::Halves::Both);
            run_async(run::run(&options, &env))
        }
        Command::Poll { target, once } => {
            let options = halves_options(&target, once, run::Halves::Poll);
            run_async(run::run(&options, &env))
        }
        Command::Consume { target, once } => {
            let options = halves_options(&target, once, run::Halves::Consume);
            run_async(run::run(&options, &env))
        }
        Command::Show {
            target,
            limit,
            dead,
        } => {
            let options = show::Options {
                file: target.file.clone(),
                backend: target.backend(),
                limit,
                dead,
            };
            run_async(async {
                let mut stdout = std::io::stdout().lock();
                show::run(&options, &env, &mut stdout).await
            })
        }
        Command::Init { target } => {
            let options = init::Options {
                file: target.file.clone(),
                backend: target.backend(),
            };
            run_async(async {
                let mut stdout = std::io::stdout().lock();
                init::run(&options, &env, &mut stdout).await
            })
        }
        Command::DeployTemplate {
            file,
            format,
            function_timeout,
            memory_size,
            pipeline_path,
            function_name,
            log_retention_days,
            secrets_manager,
        } => {
            let options = deploy_template::Options {
                file,
                format,
                deploy: stockrun::deploy::Options {
                    function_timeout,
                    memory_size,
                    pipeline_path: pipeline_path.unwrap_or_default(),
                    function_name,
                    log_retention_days,
                    secrets_manager,
                },
            };
            print_to_stdout(|out| deploy_template::run(&options, out, &mut std::io::stderr()))
        }
    }
}

/// Runs a command that writes to stdout; a closed pipe (`| head`) is not an error.
fn print_to_stdout(
    command: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<bool>,
) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = command(&mut stdout);
    let _ = stdout.flush();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stockrun: error: {err}");
            ExitCode::from(1)
        }
    }
}
