//! `stockrun deploy-template FILE`: prints the CloudFormation template that runs the pipeline on
//! AWS Lambda (see `crate::deploy`). Nothing is read from the environment but the file: every
//! `${VAR}` becomes a template parameter.

use std::io::Write;
use std::path::PathBuf;

use crate::compile::{LoadError, load_bytes};
use crate::config;
use crate::config::env::{Environment, find_references};
use crate::config::load::UnsetVariables;
use crate::deploy::{self, DeployError, Source};
use crate::diag::Diagnostic;
use crate::exit::ExitStatus;

/// How the template is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// YAML, with a comment saying where it came from and how to deploy it.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// What `deploy-template` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Output format.
    pub format: Format,
    /// The function's settings; `pipeline_path` empty means the file's base name.
    pub deploy: deploy::Options,
}

/// Prints the template to `out`, or the problems to `errors`: `Invalid` for a pipeline that
/// cannot load or that the template cannot own, `Usage` for an option value Lambda or Secrets
/// Manager refuses (see [`status_of`]).
pub fn run(
    options: &Options,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> std::io::Result<ExitStatus> {
    let file = options.file.display().to_string();
    let bytes = match config::file::read(&options.file) {
        Ok(bytes) => bytes,
        Err(error) => {
            writeln!(errors, "stockrun: error: {error}")?;
            return Ok(ExitStatus::Invalid);
        }
    };
    // Only the file's text: a variable without a default stands for itself while checking.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let stand_ins = find_references(&text)
        .into_iter()
        .filter(|r| !r.has_fallback)
        .map(|r| (r.name.clone(), format!("${{{}}}", r.name)));
    let env = Environment::from_pairs(stand_ins);
    let loaded = match load_bytes(&options.file, &bytes, &env, UnsetVariables::Warn) {
        Ok(loaded) => loaded,
        // The report's diagnostics carry their own `error:`.
        Err(LoadError::Invalid { report }) => {
            writeln!(errors, "{report}")?;
            return Ok(ExitStatus::Invalid);
        }
        Err(error) => {
            writeln!(errors, "stockrun: error: {error}")?;
            return Ok(ExitStatus::Invalid);
        }
    };
    for warning in &loaded.warnings {
        writeln!(errors, "{warning}")?;
    }
    if let Some(path) = loaded.pipeline.source.url.value.strip_prefix("file:") {
        writeln!(
            errors,
            "stockrun: warning: the source reads the file `{path}` (`source.url: file:…`); the function reads it from its package, so put it in the zip beside the pipeline (at the same path relative to it), or the function's polls fail"
        )?;
    }
    let mut settings = options.deploy.clone();
    if settings.pipeline_path.is_empty() {
        settings.pipeline_path = options
            .file
            .file_name()
            .map_or_else(|| file.clone(), |name| name.to_string_lossy().into_owned());
    }
    let source = Source {
        pipeline: &loaded.pipeline,
        text: &text,
        schedule: &loaded.schedule,
    };
    let template = match deploy::template(source, &settings) {
        Ok(template) => template,
        Err(error) => {
            write!(errors, "{}", describe(&error, &file, &text))?;
            return Ok(status_of(&error));
        }
    };
    let rendered = match options.format {
        Format::Yaml => serde_saphyr::to_string(&template)
            .map(|yaml| header(&file, &loaded.pipeline.name.value, &template) + &yaml)
            .map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&template)
            .map(|json| json + "\n")
            .map_err(|e| e.to_string()),
    };
    match rendered {
        Ok(text) => {
            out.write_all(text.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        Err(error) => {
            writeln!(
                errors,
                "stockrun: error: cannot write the template: {error}"
            )?;
            Ok(ExitStatus::Failure)
        }
    }
}

/// How `deploy-template` exits on `error`: what is wrong in the pipeline makes it invalid for
/// the template (1); an option value Lambda or Secrets Manager would refuse is a usage error
/// (2), like the values clap refuses (`--memory-size 64`).
fn status_of(error: &DeployError) -> ExitStatus {
    match error {
        DeployError::Schedule { .. }
        | DeployError::FromVariable { .. }
        | DeployError::QueueUrl { .. }
        | DeployError::Sender { .. }
        | DeployError::ParameterClash { .. } => ExitStatus::Invalid,
        DeployError::FunctionName { .. }
        | DeployError::FunctionTimeout { .. }
        | DeployError::VisibilityTooLong { .. }
        | DeployError::SecretId { .. } => ExitStatus::Usage,
    }
}

/// The error as `validate` would show it when it is about the pipeline, else one line.
fn describe(error: &DeployError, file: &str, text: &str) -> String {
    match error.location() {
        Some((position, path)) => {
            let mut diagnostic = Diagnostic::error(position, error.to_string()).at(path);
            if let Some(help) = error.help() {
                diagnostic = diagnostic.help(help);
            }
            diagnostic.render(file, text)
        }
        None => match error.help() {
            Some(help) => format!("stockrun: error: {error}\n  = help: {help}\n"),
            None => format!("stockrun: error: {error}\n"),
        },
    }
}

/// The YAML header: where the template came from and how to deploy it.
fn header(file: &str, name: &str, template: &deploy::model::Template) -> String {
    let required: Vec<String> = template
        .parameters
        .iter()
        .filter(|(_, p)| p.default.is_none())
        .map(|(id, p)| {
            if p.no_echo == Some(true) {
                format!("{id}=\"$SECRET\"")
            } else {
                format!("{id}=...")
            }
        })
        .collect();
    format!(
        "# CloudFormation template of the stockrun pipeline `{name}`, made by\n\
         # `stockrun deploy-template {file}`: regenerate it rather than edit it.\n\
         #\n\
         # Upload the function's zip (`bootstrap` and the pipeline file) to S3, then:\n\
         #   aws cloudformation deploy --stack-name stockrun-{name} --template-file THIS_FILE \\\n\
         #     --capabilities CAPABILITY_IAM --parameter-overrides {}\n",
        required.join(" ")
    )
}
