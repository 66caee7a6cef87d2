//! Settings resolved from the command line: what `cli` parsed becomes the plain options each
//! command takes (`run::Options`, `show::Options`, …), with defaults filled in and clap's types
//! left behind, so nothing past this module (least of all `runtime/`) knows about clap.

use crate::aws::Aws;
use std::path::PathBuf;

use crate::cli::{self, BackendArg, Cli, Delivery, TemplateFormat, ValidateFormat};
use crate::commands::{
    Command, backtest, chart, deploy_template, echo, init, invoke, run, serve, show, test, validate,
};
use crate::runtime::backend::{Backend, BackendKind};

/// Resolves what was typed into the command to run. Nothing is read or connected here: the AWS
/// clients are built on first use.
pub fn resolve(cli: Cli) -> Command {
    match cli.command {
        cli::Command::Validate {
            files,
            format,
            deny_warnings,
        } => Command::Validate(validate::Options {
            files,
            format: format.into(),
            deny_warnings,
        }),
        cli::Command::Schema => Command::Schema,
        cli::Command::Run {
            target,
            more,
            watch,
            delivery,
            once,
            dry_run,
            metrics,
        } => Command::Run(run::Options {
            dry_run,
            more,
            watch,
            metrics,
            ..halves(target, delivery, once, run::Halves::Both)
        }),
        cli::Command::Poll {
            target,
            once,
            dry_run,
            metrics,
        } => Command::Run(run::Options {
            dry_run,
            metrics,
            ..halves(target, Delivery::default(), once, run::Halves::Poll)
        }),
        cli::Command::Consume {
            target,
            delivery,
            once,
            metrics,
        } => Command::Run(run::Options {
            metrics,
            ..halves(target, delivery, once, run::Halves::Consume)
        }),
        cli::Command::Show {
            target,
            limit,
            dead,
            format,
            since,
            series,
            columns,
        } => Command::Show(show::Options {
            file: target.file.clone(),
            backend: backend(target, Delivery::default()),
            limit,
            dead,
            format: match format {
                cli::ShowFormat::Table => show::Format::Table,
                cli::ShowFormat::Json => show::Format::Json,
                cli::ShowFormat::Ndjson => show::Format::Ndjson,
                cli::ShowFormat::Csv => show::Format::Csv,
            },
            since,
            series,
            columns,
        }),
        cli::Command::Backtest {
            target,
            since,
            series,
            format,
        } => Command::Backtest(backtest::Options {
            file: target.file.clone(),
            backend: backend(target, Delivery::default()),
            since,
            series,
            format: format.into(),
        }),
        cli::Command::Serve { target, listen } => Command::Serve(serve::Options {
            file: target.file.clone(),
            backend: backend(target, Delivery::default()),
            listen,
        }),
        cli::Command::Chart {
            target,
            output,
            series,
            since,
            timezone,
            value,
            band,
            time,
            width,
            height,
        } => Command::Chart(chart::Options {
            file: target.file.clone(),
            backend: backend(target, Delivery::default()),
            output,
            series,
            since,
            timezone,
            fields: crate::config::model::ChartOverrides { value, band, time },
            width,
            height,
        }),
        cli::Command::Init { target, delivery } => Command::Init(init::Options {
            file: target.file.clone(),
            backend: backend(target, delivery),
        }),
        cli::Command::DeployTemplate {
            file,
            format,
            function_timeout,
            memory_size,
            pipeline_path,
            function_name,
            log_retention_days,
            secrets_manager,
        } => Command::DeployTemplate(deploy_template::Options {
            file,
            format: format.into(),
            deploy: crate::deploy::Options {
                function_timeout,
                memory_size,
                pipeline_path: pipeline_path.unwrap_or_default(),
                function_name,
                log_retention_days,
                secrets_manager,
            },
        }),
        cli::Command::Test {
            files,
            update,
            format,
        } => Command::Test(test::Options {
            files,
            update,
            format: format.into(),
        }),
        cli::Command::Echo { file, format } => Command::Echo(echo::Options {
            file,
            format: match format {
                cli::EchoFormat::Yaml => echo::Format::Yaml,
                cli::EchoFormat::Json => echo::Format::Json,
            },
        }),
        cli::Command::Invoke {
            file,
            event,
            records,
            print_event,
            backend: kind,
            state_dir,
        } => Command::Invoke(match print_event {
            // clap requires FILE and `--event` unless `--print-event` is given.
            Some(kind) => invoke::Options::PrintEvent(kind.into()),
            None => invoke::Options::Invoke {
                file: file.unwrap_or_default(),
                event: event.map_or(invoke::EventKind::Sqs, Into::into),
                records,
                backend: backend(
                    cli::Target {
                        file: PathBuf::new(),
                        backend: kind,
                        state_dir,
                    },
                    Delivery::default(),
                ),
            },
        }),
        cli::Command::Completions { shell } => Command::Completions(shell),
        cli::Command::Man { dir } => Command::Man(dir),
    }
}

/// The options of `run`, `poll` or `consume` (not a dry run).
fn halves(
    target: cli::Target,
    delivery: Delivery,
    once: bool,
    halves: run::Halves,
) -> run::Options {
    run::Options {
        file: target.file.clone(),
        more: Vec::new(),
        watch: false,
        backend: backend(target, delivery),
        once,
        halves,
        dry_run: false,
        metrics: None,
    }
}

/// Where the stages run, from `--backend`, `--state-dir` and, for the commands that take them,
/// `--smtp` and `--visibility-timeout` (`Delivery::default()` for the others).
fn backend(target: cli::Target, delivery: Delivery) -> Backend {
    Backend {
        kind: target.backend.into(),
        state_dir: target.state_dir,
        smtp: delivery.smtp,
        visibility_timeout: delivery.visibility_timeout,
        aws: Aws::new(),
    }
}

impl From<cli::EventKind> for invoke::EventKind {
    fn from(kind: cli::EventKind) -> invoke::EventKind {
        match kind {
            cli::EventKind::Sqs => invoke::EventKind::Sqs,
            cli::EventKind::Schedule => invoke::EventKind::Schedule,
        }
    }
}

impl From<BackendArg> for BackendKind {
    fn from(arg: BackendArg) -> BackendKind {
        match arg {
            BackendArg::Local => BackendKind::Local,
            BackendArg::Aws => BackendKind::Aws,
        }
    }
}

impl From<ValidateFormat> for crate::commands::Format {
    fn from(format: ValidateFormat) -> crate::commands::Format {
        match format {
            ValidateFormat::Text => crate::commands::Format::Text,
            ValidateFormat::Json => crate::commands::Format::Json,
        }
    }
}

impl From<TemplateFormat> for deploy_template::Format {
    fn from(format: TemplateFormat) -> deploy_template::Format {
        match format {
            TemplateFormat::Yaml => deploy_template::Format::Yaml,
            TemplateFormat::Json => deploy_template::Format::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn resolve(args: &[&str]) -> Command {
        let mut all = vec!["stockrun"];
        all.extend_from_slice(args);
        super::resolve(crate::cli::try_parse_from(&all).expect("the arguments parse"))
    }

    #[test]
    fn run_poll_and_consume_resolve_to_their_halves_on_the_given_backend() {
        for (command, expected) in [
            ("run", run::Halves::Both),
            ("poll", run::Halves::Poll),
            ("consume", run::Halves::Consume),
        ] {
            let mut args = vec![
                command,
                "p.yaml",
                "--once",
                "--backend",
                "aws",
                "--state-dir",
                "/tmp/s",
            ];
            // `poll` receives nothing: it has no `--visibility-timeout`.
            if expected != run::Halves::Poll {
                args.extend(["--visibility-timeout", "90s"]);
            }
            let Command::Run(options) = resolve(&args) else {
                panic!("{command} resolves to Command::Run");
            };
            assert_eq!(options.halves, expected);
            assert!(options.once);
            assert!(!options.dry_run);
            assert_eq!(options.file, PathBuf::from("p.yaml"));
            assert_eq!(options.backend.kind, BackendKind::Aws);
            assert_eq!(options.backend.state_dir, PathBuf::from("/tmp/s"));
            let visibility = (expected != run::Halves::Poll).then(|| Duration::from_secs(90));
            assert_eq!(options.backend.visibility_timeout, visibility);
        }
    }

    #[test]
    fn the_defaults_are_the_local_backend_and_yaml() {
        let Command::Show(show) = resolve(&["show", "p.yaml", "--state-dir", ".stockrun"]) else {
            panic!("show resolves to Command::Show");
        };
        assert_eq!(show.backend.kind, BackendKind::Local);
        assert_eq!(show.limit, 20);
        assert!(!show.dead);
        let Command::DeployTemplate(template) = resolve(&["deploy-template", "p.yaml"]) else {
            panic!("deploy-template resolves to Command::DeployTemplate");
        };
        assert_eq!(template.format, deploy_template::Format::Yaml);
        assert_eq!(template.deploy.pipeline_path, "");
        assert_eq!(template.deploy.memory_size, 256);
    }

    #[test]
    fn only_the_commands_that_run_stages_use_a_backend() {
        assert!(resolve(&["init", "p.yaml"]).uses_backend());
        assert!(resolve(&["consume", "p.yaml"]).uses_backend());
        assert!(!resolve(&["validate", "p.yaml"]).uses_backend());
        assert!(!resolve(&["schema"]).uses_backend());
        assert!(resolve(&["invoke", "p.yaml", "--event", "sqs"]).uses_backend());
        assert!(!resolve(&["invoke", "--print-event", "sqs"]).uses_backend());
        assert!(!resolve(&["echo", "p.yaml"]).uses_backend());
    }

    #[test]
    fn dry_run_is_resolved_for_run_and_poll() {
        for command in ["run", "poll"] {
            let Command::Run(options) = resolve(&[command, "p.yaml", "--dry-run"]) else {
                panic!("{command} resolves to Command::Run");
            };
            assert!(options.dry_run, "{command}");
        }
    }
}
