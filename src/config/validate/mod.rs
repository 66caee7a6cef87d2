//! The config-level checks of a pipeline (the part of `stockrun validate` after parsing that
//! needs nothing but the file): names, limits, keys, e-mail addresses, secrets and the names
//! templates use. Each check adds diagnostics and moves on, so one run reports every problem.
//! What a stage builds (URL, cron, JSONPaths, timestamp formats, template syntax) is checked by
//! the stage's own constructor, called by `crate::compile`.

mod chart;
mod inner;
mod outputs;
mod process;
mod source;
pub(crate) mod templates;

use crate::config::Located;
use crate::config::load::Sections;
use crate::config::located::Position;
use crate::diag::Diagnostic;

pub use inner::position_within;

/// Runs every check that the parsed sections allow and returns what it found.
pub fn check(sections: &Sections, text: &str) -> Vec<Diagnostic> {
    let mut ctx = Ctx {
        text,
        diagnostics: Vec::new(),
    };
    let fields = sections.process.as_ref().map(|p| &*p.fields);
    if let Some(name) = &sections.name {
        outputs::check_name(&mut ctx, name, sections.queue.as_ref());
    }
    if let Some(source) = &sections.source {
        source::check(&mut ctx, source, sections.feeds.as_deref());
    }
    if let Some(queue) = &sections.queue {
        outputs::check_queue(&mut ctx, queue);
    }
    if let Some(process) = &sections.process {
        let records = sections.source.as_ref().map(|s| &s.records);
        process::check(&mut ctx, process, records);
    }
    let feed_keys = sections.feeds.as_deref().map(source::keys_every_feed_has);
    if let Some(store) = &sections.store {
        outputs::check_store(&mut ctx, store, fields, feed_keys.as_deref());
    }
    if let Some(Some(notify)) = &sections.notify {
        let inserted_at = sections.store.as_ref().map(|s| s.inserted_at.as_str());
        outputs::check_notify(&mut ctx, notify, fields, inserted_at, feed_keys.as_deref());
        if let Some(mail) = &notify.chart {
            let chart_section = sections.chart.as_ref().and_then(Option::as_ref);
            chart::check_mail(
                &mut ctx,
                mail,
                chart_section,
                fields,
                sections.store.as_ref(),
            );
        }
    }
    if let (Some(Some(chart_section)), Some(fields)) = (&sections.chart, fields) {
        let inserted_at = sections.store.as_ref().map(|s| s.inserted_at.as_str());
        chart::check_section(&mut ctx, chart_section, fields, inserted_at);
    }
    ctx.diagnostics
}

/// What the checks share: the file's text (to place problems inside values) and the findings.
pub(crate) struct Ctx<'a> {
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl Ctx<'_> {
    /// Records a problem.
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The file position of character `column` on line `line` (both 0-based) of a string value.
    fn within(&self, value: &Located<String>, line: usize, column: usize) -> Position {
        position_within(self.text, value.position, value, line, column)
    }

    /// The value as written in the file (before substitution), or the value itself.
    fn source_text<'v>(&'v self, value: &'v Located<String>) -> &'v str {
        inner::raw_text(self.text, value.position).unwrap_or(value)
    }

    /// Warns when `${VAR}` was written where it is not substituted (quoted or block scalars).
    fn check_not_interpolated(&mut self, value: &Located<String>, path: &str) {
        if inner::scalar_style(self.text, value.position) != inner::ScalarStyle::Plain
            && let Some(start) = value.find("${")
            && value[start..].contains('}')
        {
            let column = value[..start].chars().count();
            self.push(
                Diagnostic::warning(
                    self.within(value, 0, column),
                    "`${…}` is not substituted inside quotes or block scalars",
                )
                .at(path)
                .help("write the value unquoted, such as `X-Api-Key: ${API_KEY}`"),
            );
        }
    }
}
