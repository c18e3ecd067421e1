//! `callrec synth`: writes the fixture captures (see `callrec::synth::fixtures`).

use callrec::synth::{fixtures, generate};
use std::path::PathBuf;

#[derive(clap::Parser)]
pub struct SynthArgs {
    /// Directory to write the captures to.
    #[arg(long, default_value = "fixtures")]
    out: PathBuf,
}

pub fn run(args: SynthArgs) -> Result<(), String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    for fixture in fixtures() {
        let (bytes, _) = generate(&fixture.legs, fixture.format, fixture.link)
            .map_err(|e| format!("{}: {e}", fixture.name))?;
        let path = args.out.join(fixture.name);
        std::fs::write(&path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!(
            "{}",
            serde_json::json!({ "fixture": path, "bytes": bytes.len() })
        );
    }
    Ok(())
}
