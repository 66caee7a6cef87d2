//! Whether a bench measures (`cargo bench`) or only runs once to show that it works: `cargo test
//! --all-targets` runs every bench target, without `--bench`. Its fixtures are built small then,
//! so the test suite does not spend most of a minute filling a million rows it never measures.

/// `full` under `cargo bench`, `small` when `cargo test` runs the bench once.
pub fn size(full: usize, small: usize) -> usize {
    if std::env::args().any(|arg| arg == "--bench") {
        full
    } else {
        small
    }
}
