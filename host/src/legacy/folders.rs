//! Job folders: each job gets its own, `_sandbox/<jobId>`, empty when it
//! starts. A folder its job left empty after a clean end is kept (one per
//! worker at most) and renamed for a later job, its times set anew, instead
//! of being removed and made again: on ext4, making and removing a folder
//! was about half of a small job's cost. A folder with anything in it, or
//! whose job timed out, trapped or panicked, is removed as before. Reuse is
//! for Unix, where a folder's times can be set through a read-only handle.

use crate::sync::locked;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(super) struct JobFolders {
    root: PathBuf,
    /// Empty folders of finished jobs, ready to be renamed for the next ones.
    spare: Mutex<Vec<PathBuf>>,
    keep_at_most: usize,
    /// Keep every folder as its job left it (for debugging): none is reused.
    keep_all: bool,
}

/// One job's folder; removed (or kept as a spare) when dropped, however the
/// job ends.
pub(super) struct JobFolder<'a> {
    folders: &'a JobFolders,
    path: PathBuf,
    /// Whether the job ended cleanly, so an empty folder may serve again.
    pub(super) clean: bool,
}

impl JobFolders {
    pub(super) fn new(root: PathBuf, workers: usize, keep_all: bool) -> JobFolders {
        let keep_at_most = if cfg!(unix) { workers } else { 0 };
        JobFolders { root, spare: Mutex::default(), keep_at_most, keep_all }
    }

    /// An empty folder named for `job_id`.
    pub(super) fn make(&self, job_id: &str) -> io::Result<JobFolder<'_>> {
        let path = self.root.join(job_id);
        let spare = locked(&self.spare).pop();
        if let Some(spare) = spare {
            match std::fs::rename(&spare, &path).and_then(|()| renew_times(&path)) {
                Ok(()) => return Ok(JobFolder { folders: self, path, clean: false }),
                // Whichever name it has now, it goes; a fresh one is made.
                Err(_) => {
                    let _ = std::fs::remove_dir(&spare);
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        std::fs::create_dir(&path)?;
        Ok(JobFolder { folders: self, path, clean: false })
    }

    fn finish(&self, folder: &Path, clean: bool) -> io::Result<()> {
        if self.keep_all {
            return Ok(());
        }
        if clean && is_empty(folder)? {
            let mut spare = locked(&self.spare);
            if spare.len() < self.keep_at_most {
                spare.push(folder.to_path_buf());
                return Ok(());
            }
        }
        std::fs::remove_dir_all(folder)
    }
}

impl JobFolder<'_> {
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JobFolder<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.folders.finish(&self.path, self.clean) {
            tracing::warn!("could not remove the job folder {}: {error}", self.path.display());
        }
    }
}

impl Drop for JobFolders {
    fn drop(&mut self) {
        for spare in locked(&self.spare).drain(..) {
            let _ = std::fs::remove_dir(spare);
        }
    }
}

fn is_empty(folder: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(folder)?.next().is_none())
}

/// A reused folder's times are the new job's, as a fresh folder's would be:
/// the last job's file activity must not show through them.
fn renew_times(folder: &Path) -> io::Result<()> {
    let now = std::time::SystemTime::now();
    let times = std::fs::FileTimes::new().set_accessed(now).set_modified(now);
    std::fs::File::open(folder)?.set_times(times)
}
