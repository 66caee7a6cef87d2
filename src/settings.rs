//! Settings resolved from the command line: what `cli` parsed becomes the plain options each
//! command takes (`run::Options`, `show::Options`, …), with defaults filled in and clap's types
//! left behind, so nothing past this module (least of all `runtime/`) knows about clap.

use crate::aws::Aws;
use crate::cli::{self, BackendArg, Cli, TemplateFormat, ValidateFormat};
use crate::commands::{Command, backtest, deploy_template, init, run, show, test, validate};
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
        cli::Command::Run { target, once } => Command::Run(halves(target, once, run::Halves::Both)),
        cli::Command::Poll { target, once } => {
            Command::Run(halves(target, once, run::Halves::Poll))
        }
        cli::Command::Consume { target, once } => {
            Command::Run(halves(target, once, run::Halves::Consume))
        }
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
            backend: backend(target),
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
            backend: backend(target),
            since,
            series,
            format: match format {
                cli::ValidateFormat::Text => backtest::Format::Text,
                cli::ValidateFormat::Json => backtest::Format::Json,
            },
        }),
        cli::Command::Init { target } => Command::Init(init::Options {
            file: target.file.clone(),
            backend: backend(target),
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
            format: match format {
                cli::ValidateFormat::Text => test::Format::Text,
                cli::ValidateFormat::Json => test::Format::Json,
            },
        }),
    }
}

/// The options of `run`, `poll` or `consume`.
fn halves(target: cli::Target, once: bool, halves: run::Halves) -> run::Options {
    run::Options {
        file: target.file.clone(),
        backend: backend(target),
        once,
        halves,
    }
}

/// Where the stages run, from `--backend`, `--state-dir`, `--smtp` and `--visibility-timeout`.
fn backend(target: cli::Target) -> Backend {
    Backend {
        kind: target.backend.into(),
        state_dir: target.state_dir,
        smtp: target.smtp,
        visibility_timeout: target.visibility_timeout,
        aws: Aws::new(),
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

impl From<ValidateFormat> for validate::Format {
    fn from(format: ValidateFormat) -> validate::Format {
        match format {
            ValidateFormat::Text => validate::Format::Text,
            ValidateFormat::Json => validate::Format::Json,
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
            let Command::Run(options) = resolve(&[
                command,
                "p.yaml",
                "--once",
                "--backend",
                "aws",
                "--state-dir",
                "/tmp/s",
                "--visibility-timeout",
                "90s",
            ]) else {
                panic!("{command} resolves to Command::Run");
            };
            assert_eq!(options.halves, expected);
            assert!(options.once);
            assert_eq!(options.file, PathBuf::from("p.yaml"));
            assert_eq!(options.backend.kind, BackendKind::Aws);
            assert_eq!(options.backend.state_dir, PathBuf::from("/tmp/s"));
            assert_eq!(
                options.backend.visibility_timeout,
                Some(Duration::from_secs(90))
            );
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
    }
}
