//! What `record` does, in order: read the capture, decide the files' names (refusing to
//! replace an earlier recording unless asked), replay the capture into them with Ctrl-C
//! watched, make them final with their sidecar, then print one line per recording, or hand
//! the recording to the store.

use super::args::{RecordArgs, DEFAULT_REMINDER_SECS};
use super::progress::Progress;
use super::{capture, interrupt, out_dir};
use crate::failure::Failure;
use crate::output::notice;
use crate::output::{Line, Output};
use crate::store::StoreContext;
use bytes::Bytes;
use callrec::encode::{Format, OpusSettings};
use callrec::media::jitter::JitterConfig;
use callrec::media::mix::Layout;
use callrec::media::tones::ToneSpec;
use callrec::offline::{record_capture, CaptureOptions, OfflineError};
use callrec::recorder::metadata::Sidecar;
use callrec::recorder::{RecorderConfig, Reminder};
use callrec::store::atomic::write_atomically;
use callrec::store::media_files::MediaFiles;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `record --out` prints, one line per media file (`"type": "recording"`): the file, its
/// sidecar, and the call id as given. `record --store` prints one `"type": "stored"` line per
/// recording instead (see `store::StoredLine`): a store's keys are not paths, and the upload
/// has its own counts.
#[derive(Serialize)]
struct RecordingLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    call_id: &'a str,
    recording: PathBuf,
    metadata: &'a Path,
}

impl Line for RecordingLine<'_> {
    fn text(&self) -> String {
        format!(
            "recorded {}: {} (metadata {})",
            self.call_id,
            self.recording.display(),
            self.metadata.display()
        )
    }
}

pub fn run(args: RecordArgs) -> Result<(), Failure> {
    let settings = args.config()?;
    // Validated by the configuration (each error names where the value came from).
    let format: Format = settings
        .recording
        .format
        .parse()
        .map_err(|e| format!("{e}"))?;
    let layout: Layout = settings.recording.layout.parse()?;
    let opus = OpusSettings::new(args.bitrate, args.complexity).map_err(|e| e.to_string())?;
    let config = RecorderConfig {
        layout,
        format,
        opus,
        jitter: JitterConfig {
            latency: Duration::from_millis(settings.recording.jitter_ms),
            ..JitterConfig::default()
        },
        reminder: (args.reminder || args.reminder_interval.is_some()).then(|| Reminder {
            interval_secs: args.reminder_interval.unwrap_or(DEFAULT_REMINDER_SECS),
            tone: ToneSpec {
                frequency_hz: args.reminder_frequency,
                length_ms: args.reminder_length_ms,
                level_dbfs: args.reminder_level,
            },
        }),
        notification: args
            .notify_pause
            .then_some((ToneSpec::PAUSE, ToneSpec::RESUME)),
        pause_mode: args.pause_mode,
        pci: args.pci,
        ..RecorderConfig::default()
    };
    let options = CaptureOptions {
        leg_a: args.leg_a,
        leg_b: args.leg_b,
        payload_types: args.payload_types.clone(),
        pauses: args.pause.clone(),
        exclusions: args.exclude.clone(),
    };
    let capture_name = capture::name(&args.capture);
    let capture = capture::read(&args.capture)?;
    // The id as given is the recording's name in its metadata; the files get a plain name.
    let call_id = args.call_id.clone().unwrap_or_else(|| {
        match capture::is_stdin(&args.capture) {
            true => None,
            false => args
                .capture
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned()),
        }
        .unwrap_or_else(|| "stdin".into())
    });
    let stem = out_dir::file_stem(&call_id);
    interrupt::install()?;
    // --out (a flag) wins over a store that the environment or a configuration file sets.
    let use_store = args.out.is_none() && args.store.given(&settings);
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("recordings"));
    let (stored, earlier) = match use_store {
        false => {
            let earlier = out_dir::prepare(&out_dir, &stem, &call_id, args.force)?;
            (None, earlier)
        }
        true => {
            let ctx = StoreContext::start(&args.store, &args.owner, args.upload_timeout, &stem)?;
            interrupt::watch([ctx.job.dir().to_path_buf()]);
            (Some(ctx), None)
        }
    };
    let out = match &stored {
        Some(ctx) => ctx.job.dir().to_path_buf(),
        None => out_dir.clone(),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let names: Vec<String> = match layout.files() {
        1 => vec![format!("{stem}.{}", format.extension())],
        _ => ["a", "b"]
            .iter()
            .map(|leg| format!("{stem}-{leg}.{}", format.extension()))
            .collect(),
    };
    interrupt::watch(names.iter().map(|n| out.join(format!("{n}.partial"))));
    let mut files = MediaFiles::create(&out, &names)
        .map_err(|e| Failure::Failed(format!("cannot create: {e}")))?;
    let mut progress = Progress::start(&capture_name);
    let replay = record_capture(
        Bytes::from(capture),
        config,
        &options,
        |chunk| files.write(chunk),
        |done, total| progress.update(done, total),
    );
    progress.finish();
    let mut replay = match replay {
        Ok(replay) => replay,
        Err(e) => {
            files.discard();
            if let Some(ctx) = stored {
                let _ = ctx.job.abandon();
            }
            return Err(match e {
                OfflineError::Capture(e) => format!("{capture_name}: {e}").into(),
                OfflineError::Output(e) => Failure::Failed(format!("writing the recording: {e}")),
                e => e.to_string().into(),
            });
        }
    };
    let call_secs = replay.summary.call_duration_secs;
    for (flag, spans) in [("--pause", &args.pause), ("--exclude", &args.exclude)] {
        for (from, to) in spans
            .iter()
            .filter(|(from, _)| from.as_secs_f64() >= call_secs)
        {
            replay.warnings.push(format!(
                "{flag} {}:{} starts after the call ends ({call_secs:.1} s): it changes nothing",
                from.as_secs_f64(),
                to.as_secs_f64()
            ));
        }
    }
    for warning in &replay.warnings {
        notice!("warning: {warning}");
    }
    let metadata = out_dir.join(format!("{stem}.json"));
    let call_start = replay.summary.call_start;
    // Media made final and the sidecar written with Ctrl-C held off: an interrupt after
    // this point finds a complete recording and leaves it.
    let sidecar = interrupt::finishing(|| -> Result<Sidecar, Failure> {
        let written = files
            .commit()
            .map_err(|e| Failure::Failed(format!("cannot finish the recording: {e}")))?;
        let hashes = written.into_iter().map(|f| f.sha256);
        let endpoints = replay
            .legs
            .clone()
            .map(|flow| flow.map(|f| (f.src.to_string(), f.dst.to_string())));
        let mut sidecar = Sidecar::new(
            &call_id,
            replay.summary,
            endpoints,
            names.iter().cloned().zip(hashes).collect(),
            replay.warnings,
        );
        sidecar.input = serde_json::to_value(&replay.capture).ok();
        if stored.is_none() {
            let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
            write_atomically(&metadata, &json).map_err(|e| {
                Failure::Failed(format!("cannot write {}: {e}", metadata.display()))
            })?;
        }
        Ok(sidecar)
    })?;
    let mut output = Output::stdout();
    if let Some(ctx) = stored {
        let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
        let media = sidecar
            .files
            .iter()
            .map(|f| callrec::store::job::FinishedFile {
                name: f.name.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
            })
            .collect();
        let line = ctx.finish(&args.owner, &stem, call_start, &json, media)?;
        return Ok(output.line(&line)?);
    }
    if let Some(earlier) = earlier {
        for path in earlier.remove_replaced(&out_dir, &names)? {
            notice!("removed {} of the replaced recording", path.display());
        }
    }
    for name in &names {
        output.line(&RecordingLine {
            kind: "recording",
            call_id: &call_id,
            recording: out_dir.join(name),
            metadata: &metadata,
        })?;
    }
    Ok(())
}
