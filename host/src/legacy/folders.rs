//! Job folders: each job gets its own, `_sandbox/<jobId>`, empty when it
//! starts. A folder its job left empty is kept (one per worker at most) and
//! renamed for a later job, its times set anew, instead of being removed and
//! made again: on ext4, making and removing a folder was about half of a
//! small job's cost. A folder with anything in it is removed as before.

use crate::sync::locked;
use std::fs::{File, FileTimes};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

pub(super) struct JobFolders {
    root: PathBuf,
    /// Empty folders of finished jobs, ready to be renamed for the next ones.
    spare: Mutex<Vec<PathBuf>>,
    keep_at_most: usize,
    /// Keep every folder as its job left it (for debugging): none is reused.
    keep_all: bool,
}

impl JobFolders {
    pub(super) fn new(root: PathBuf, keep_at_most: usize, keep_all: bool) -> JobFolders {
        JobFolders { root, spare: Mutex::default(), keep_at_most, keep_all }
    }

    /// An empty folder named for `job_id`.
    pub(super) fn make(&self, job_id: &str) -> io::Result<PathBuf> {
        let folder = self.root.join(job_id);
        let spare = locked(&self.spare).pop();
        if let Some(spare) = spare {
            match std::fs::rename(&spare, &folder).and_then(|()| renew_times(&folder)) {
                Ok(()) => return Ok(folder),
                // Whichever name it has now, it goes; a fresh one is made.
                Err(_) => {
                    let _ = std::fs::remove_dir(&spare);
                    let _ = std::fs::remove_dir_all(&folder);
                }
            }
        }
        std::fs::create_dir(&folder)?;
        Ok(folder)
    }

    /// Ends a job's use of `folder`: kept as a spare when it is empty and
    /// there is room, removed otherwise (unless every folder is kept).
    pub(super) fn finish(&self, folder: PathBuf) -> io::Result<()> {
        if self.keep_all {
            return Ok(());
        }
        if is_empty(&folder)? {
            let mut spare = locked(&self.spare);
            if spare.len() < self.keep_at_most {
                spare.push(folder);
                return Ok(());
            }
        }
        std::fs::remove_dir_all(&folder)
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
    let now = SystemTime::now();
    File::open(folder)?.set_times(FileTimes::new().set_accessed(now).set_modified(now))
}
