//! `stockrun completions SHELL` and `stockrun man`: the command line's own documentation,
//! generated from its clap definition (`crate::cli::command`), so completions and man pages never
//! drift from `--help`.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

/// Writes the completion script for `shell` to `out`. Generated in memory first: clap_complete
/// panics on a failed write, and a closed pipe (`stockrun completions bash | head`) must end
/// quietly like any other output.
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> anyhow::Result<()> {
    let mut command = crate::cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "stockrun", &mut script);
    out.write_all(&script)?;
    Ok(())
}

/// Writes the man page of `stockrun` (section 1, roff) to `out`, or, with `dir`, writes
/// `stockrun.1` and one page per subcommand (`stockrun-run.1`, …) into it and names each file
/// on `out`.
pub fn man(dir: Option<&Path>, out: &mut impl Write) -> anyhow::Result<()> {
    let command = crate::cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(out)?;
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stockrun") && name.ends_with(".1"))
        .collect();
    pages.sort();
    for page in pages {
        writeln!(out, "{}", dir.join(page).display())?;
    }
    Ok(())
}
