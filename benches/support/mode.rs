//! How the benches run: whether a bench measures (`cargo bench`) or only runs once to show that
//! it works (`cargo test --all-targets` runs every bench target, without `--bench`; its fixtures
//! are built small then, so the test suite does not spend most of a minute filling a million
//! rows it never measures), and how criterion is set up ([`criterion`]).

/// `full` under `cargo bench`, `small` when `cargo test` runs the bench once.
#[allow(dead_code)] // not every bench sizes fixtures
pub fn size(full: usize, small: usize) -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        full
    } else {
        small
    }
}

/// Criterion as every bench here runs it: without plots. stockrun's charts switch on plotters'
/// embedded-font backend (Cargo unifies the features), where criterion's plots find no font and
/// panic after the first benchmark of a target. The figures are what BENCHMARKS.md quotes.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default().without_plots()
}
