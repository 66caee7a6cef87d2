//! `run --watch`: every second, looks at each pipeline file's modification time and size; once a
//! change has held still for one look (an editor's save is one change, not two), reads the file
//! and loads it as `run` does. A version with errors is not started: the running one goes on, and
//! the log says why with every located diagnostic (`file:line:column`). A valid one replaces the
//! running one through [`Slot::reload`]: the old poller finishes queueing the poll in progress and
//! polls no more, its consumer finishes the batch in hand (the graceful stop,
//! `runtime::batch::STOP_GRACE` for an e-mail), and only then does the new version start, on the
//! same queue and state, so no record is lost or handled twice.
//!
//! A version that would move the pipeline's state (another `name`, queue or table) is refused
//! too: the records queued under the old names would be left behind. A pipeline whose run failed
//! (its store, say) starts again on the next valid edit. A pipeline file that appears in a
//! watched directory is started once it validates and shares no state with the running ones; a
//! file that disappears leaves its pipeline running (an editor may be replacing it).
//!
//! Why a poll and not file-system events (the `notify` crate): one `stat` per file per second
//! costs nothing, needs no dependency, and sees every way a file changes — written in place,
//! replaced by an editor's rename, on a network or container mount where inotify is silent —
//! while the debounce that events need anyway is the same one-second wait.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::Instrument as _;

use super::many::{Context, Slot, clash};
use crate::compile::{LoadError, Loaded, load_bytes};
use crate::config::env::Environment;
use crate::config::file::pipelines_in;
use crate::config::load::UnsetVariables;
use crate::naming::queue_name;

/// How often the files are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What a look at a file finds: its modification time and size, or nothing (it is gone).
type Stamp = Option<(Option<SystemTime>, u64)>;

/// What is known of one watched file.
struct Watched {
    /// The stamp at the last look.
    stamp: Stamp,
    /// Whether the stamp changed at the last look (the change is read once it holds still).
    changing: bool,
    /// The last version refused, so it is reported once, not every second.
    refused: Option<Vec<u8>>,
}

/// Watches the files of `slots` and reloads each on a valid change, and starts the pipeline
/// files that appear in `dirs`, until the process is asked to stop (`context.stop`). Runs that
/// end meanwhile (a failure) are taken in as they end.
pub(super) async fn watch(
    slots: &mut Vec<Slot>,
    dirs: &[PathBuf],
    context: &Context,
    env: &Environment,
) {
    let mut watched: Vec<Watched> = slots
        .iter()
        .map(|slot| Watched {
            stamp: stamp(&slot.file),
            changing: false,
            refused: None,
        })
        .collect();
    let mut appeared: HashMap<PathBuf, Watched> = HashMap::new();
    tracing::info!(
        files = slots.len(),
        every = ?LOOK_EVERY,
        "watching the pipeline files: a change that validates is reloaded"
    );
    loop {
        tokio::select! {
            () = tokio::time::sleep(LOOK_EVERY) => {}
            () = context.stop.cancelled() => return,
        }
        for (slot, watched) in slots.iter_mut().zip(&mut watched) {
            let span = tracing::info_span!("pipeline", name = %slot.name());
            look(slot, watched, context, env).instrument(span).await;
            if context.stop.is_cancelled() {
                return;
            }
        }
        for file in new_files(slots, dirs) {
            let seen = appeared.entry(file.clone()).or_insert(Watched {
                stamp: None,
                changing: false,
                refused: None,
            });
            let Some(text) = changed(&file, seen) else {
                continue;
            };
            if seen.refused.as_ref() == Some(&text) {
                continue;
            }
            match check_new(slots, &file, &text, context, env) {
                Ok(loaded) => {
                    tracing::info!(file = %file.display(), pipeline = %loaded.pipeline.name.value, "a new pipeline file validates: starting it");
                    let stamp = seen.stamp;
                    appeared.remove(&file);
                    slots.push(Slot::start(loaded, text, context));
                    watched.push(Watched {
                        stamp,
                        changing: false,
                        refused: None,
                    });
                }
                Err(why) => {
                    tracing::error!(file = %file.display(), "new pipeline file not started: {why}");
                    seen.refused = Some(text);
                }
            }
        }
    }
}

/// The pipeline files in `dirs` that no slot runs (compared as canonical paths).
fn new_files(slots: &[Slot], dirs: &[PathBuf]) -> Vec<PathBuf> {
    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let running: HashSet<PathBuf> = slots.iter().map(|slot| canonical(&slot.file)).collect();
    dirs.iter()
        .filter_map(|dir| pipelines_in(dir).ok())
        .flatten()
        .filter(|file| !running.contains(&canonical(file)))
        .collect()
}

/// The new pipeline file `file` (its text `text`), loaded as `run` loads it, when it can start
/// beside `slots` (it shares no state with them); else why not.
fn check_new(
    slots: &[Slot],
    file: &Path,
    text: &[u8],
    context: &Context,
    env: &Environment,
) -> Result<Loaded, String> {
    let loaded = match load_bytes(file, text, env, UnsetVariables::Deny) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid { report }) => return Err(format!("it has errors\n{report}")),
        Err(error) => return Err(error.to_string()),
    };
    let before = slots
        .iter()
        .map(|slot| (&slot.pipeline, slot.file.as_path()));
    if let Some(clash) = clash(before, &loaded, text, context.options.backend.kind) {
        return Err(clash);
    }
    if let Err(error) = context.options.backend.visibility_timeout(&loaded.pipeline) {
        return Err(error.to_string());
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded)
}

/// One look at `slot`'s file: takes in a run that has ended, and reloads the file when it has
/// changed and the change can replace the running version (else says why, once per version).
async fn look(slot: &mut Slot, watched: &mut Watched, context: &Context, env: &Environment) {
    slot.reap().await;
    let Some(text) = changed(&slot.file, watched) else {
        return;
    };
    if text == slot.text && slot.is_running() {
        watched.refused = None;
        return;
    }
    if watched.refused.as_ref() == Some(&text) {
        return;
    }
    match check(slot, &text, context, env) {
        Ok(loaded) => {
            tracing::info!(file = %slot.file.display(), "the file changed and validates: reloading (the batch in hand is finished first)");
            watched.refused = None;
            slot.reload(loaded, text, context).await;
            tracing::info!(file = %slot.file.display(), "reloaded");
        }
        Err(why) => {
            tracing::error!(file = %slot.file.display(), "not reloaded, the running version goes on: {why}");
            watched.refused = Some(text);
        }
    }
}

/// The file's text when it has changed and then held still for one look; `None` otherwise.
fn changed(file: &Path, watched: &mut Watched) -> Option<Vec<u8>> {
    let now = stamp(file);
    if now != watched.stamp {
        watched.stamp = now;
        watched.changing = true;
        return None;
    }
    if !std::mem::take(&mut watched.changing) {
        return None;
    }
    match std::fs::read(file) {
        Ok(text) => Some(text),
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "the pipeline file cannot be read; the running version goes on");
            None
        }
    }
}

/// The file's modification time and size, `None` when it cannot be looked at.
fn stamp(file: &Path) -> Stamp {
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok(), metadata.len()))
}

/// The new version `text` of `slot`'s file, loaded as `run` loads it, when it can replace the
/// running one; else why not (every diagnostic, rendered with `file:line:column`).
fn check(slot: &Slot, text: &[u8], context: &Context, env: &Environment) -> Result<Loaded, String> {
    let loaded = match load_bytes(&slot.file, text, env, UnsetVariables::Deny) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid { report }) => {
            return Err(format!("the new version has errors\n{report}"));
        }
        Err(error) => return Err(error.to_string()),
    };
    let (old, new) = (&slot.pipeline, &loaded.pipeline);
    let moved = [
        ("name", old.name.value.clone(), new.name.value.clone()),
        ("queue", queue_name(old), queue_name(new)),
        (
            "table",
            old.store.table.value.clone(),
            new.store.table.value.clone(),
        ),
    ];
    if let Some((what, was, is)) = moved.into_iter().find(|(_, was, is)| was != is) {
        return Err(format!(
            "the new version changes the pipeline's {what} (`{was}` → `{is}`): what is queued under the old one would be left behind; restart stockrun to move the pipeline"
        ));
    }
    if let Err(error) = context.options.backend.visibility_timeout(new) {
        return Err(error.to_string());
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded)
}
