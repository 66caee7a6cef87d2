//! The `stockrun` binary, glue only: serve Lambda when deployed as a function, else parse the
//! command line (`cli`; usage errors exit 2), resolve it (`settings`), run the command
//! (`commands`) and exit with its status (`exit`: 0 ok, 1 invalid pipeline, 2 usage, 3 failure
//! at run time), printing an error as `stockrun: error: …`.

use std::process::ExitCode;

use stockrun::config::env::Environment;

fn main() -> ExitCode {
    // Deployed as a Lambda function, the same binary serves the runtime API instead.
    if stockrun::runtime::lambda::is_lambda() {
        return stockrun::runtime::lambda::serve();
    }
    let command = stockrun::settings::resolve(stockrun::cli::parse());
    if command.uses_backend() {
        stockrun::logging::init_cli();
    }
    let result = stockrun::commands::execute(&command, &Environment::from_process());
    stockrun::exit::report(result).into()
}
