//! IANA time zone names as the pipeline file writes them (`Asia/Kolkata`): one parser with one
//! diagnostic, for every key that takes a zone (`process.fields.*.timezone`, `source.timezone`,
//! `source.active[].timezone`).

use chrono_tz::Tz;

use crate::config::Located;
use crate::diag::{Diagnostic, did_you_mean};

/// An IANA time zone, with the closest name suggested when it is misspelt; `path` is the
/// pipeline key the diagnostic names.
pub fn parse(zone: &Located<String>, path: &str) -> Result<Tz, Diagnostic> {
    zone.parse::<Tz>().map_err(|_| {
        let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        let help = match did_you_mean(zone, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "use an IANA zone name such as `Asia/Kolkata`, `America/New_York` or `UTC`"
                .to_owned(),
        };
        Diagnostic::error(
            zone.position,
            format!("unknown time zone `{}`", zone.as_str()),
        )
        .at(path)
        .help(help)
    })
}
