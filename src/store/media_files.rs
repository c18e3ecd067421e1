//! A recording's media files as the recorder writes them: under a `.partial` name until the
//! recording is complete, then synced, hashed and renamed. Shared by `callrec record` (into
//! a folder or a spool job) and the live server's media shards (into spool jobs).

use super::atomic::{named, sync_parent};
use crate::encode::Chunk;
use crate::recorder::FileChunk;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The open files of one recording, in the recorder's file order.
#[derive(Debug)]
pub struct MediaFiles {
    paths: Vec<(PathBuf, PathBuf)>,
    files: Vec<File>,
    /// Bytes appended so far, over all files.
    written: u64,
}

/// A media file made durable: its final name, size and SHA-256 (hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

impl MediaFiles {
    /// Creates `names` in `dir` (as `NAME.partial`).
    pub fn create(dir: &Path, names: &[String]) -> std::io::Result<MediaFiles> {
        let mut paths = Vec::new();
        let mut files = Vec::new();
        for name in names {
            let final_path = dir.join(name);
            let partial = dir.join(format!("{name}.partial"));
            files.push(File::create(&partial).map_err(|e| named(&partial, e))?);
            paths.push((partial, final_path));
        }
        Ok(MediaFiles {
            paths,
            files,
            written: 0,
        })
    }

    /// Second handles on the open files, so another thread can sync them (fdatasync) while
    /// this one keeps appending.
    pub fn sync_handles(&self) -> std::io::Result<Vec<File>> {
        self.files.iter().map(File::try_clone).collect()
    }

    /// Bytes appended so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes one chunk: appended, or patched in place (a WAV header's final sizes).
    pub fn write(&mut self, FileChunk { file, chunk }: FileChunk) -> std::io::Result<()> {
        let f = self
            .files
            .get_mut(file)
            .expect("the recorder writes only the files it was created with");
        match chunk {
            Chunk::Append(bytes) => {
                self.written += bytes.len() as u64;
                f.write_all(&bytes)
            }
            Chunk::Patch { offset, bytes } => {
                let end = f.stream_position()?;
                f.seek(SeekFrom::Start(offset))?;
                f.write_all(&bytes)?;
                f.seek(SeekFrom::Start(end)).map(|_| ())
            }
        }
    }

    /// Removes the partial files (the recording failed).
    pub fn discard(self) {
        for (partial, _) in &self.paths {
            let _ = std::fs::remove_file(partial);
        }
    }

    /// Makes the files durable and visible under their final names.
    pub fn commit(self) -> std::io::Result<Vec<WrittenFile>> {
        let mut written = Vec::new();
        for (file, (partial, final_path)) in self.files.into_iter().zip(&self.paths) {
            file.sync_all().map_err(|e| named(partial, e))?;
            let (bytes, sha256) = sha256_file(partial)?;
            std::fs::rename(partial, final_path).map_err(|e| named(partial, e))?;
            sync_parent(final_path)?;
            let name = final_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            written.push(WrittenFile {
                name,
                bytes,
                sha256,
            });
        }
        Ok(written)
    }
}

/// A file's length and SHA-256 (hex).
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path).map_err(|e| named(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| named(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((bytes, hex))
}
