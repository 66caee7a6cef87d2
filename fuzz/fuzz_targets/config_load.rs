//! Config loading on arbitrary bytes: `load::check` never panics, says why when it rejects a
//! file, and a pipeline it accepts compiles into a processor (DESIGN: only a pipeline `validate`
//! rejects fails there).

#![no_main]

use libfuzzer_sys::fuzz_target;
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};
use stockrun::process::Processor;

fuzz_target!(|data: &[u8]| {
    let env = Environment::from_pairs([("API_KEY", "k3y"), ("RAPIDAPI_KEY", "k3y")]);
    let checked = check(data, &env, UnsetVariables::Warn);
    match &checked.pipeline {
        Some(pipeline) => {
            if let Err(err) = Processor::new(pipeline) {
                panic!("a pipeline that validates does not compile: {err}");
            }
        }
        None => assert!(
            checked.diagnostics.iter().any(|d| d.is_error()),
            "rejected without an error"
        ),
    }
});
