//! The one order in which every setting is decided, for every command: a flag, else an
//! environment variable, else the configuration file, else the built-in default. Each layer
//! is applied over the one below through the same setters (`super::ENV`), so a flag and its
//! variable parse and check a value identically, and each value's origin is kept for messages.
//!
//! A command reads and validates only the sections it uses ([`Section`]): `record` never
//! reads `[sip]` nor `CALLREC_SIP_*`, so a broken SIP setting cannot stop it. The file is still
//! one document: its syntax, its section names and every field name of a used section are
//! checked; the lines of a known section the command does not use are not read at all.

use super::locate::{locate, SYSTEM_CONFIG};
use super::origin::Origin;
use super::{Config, ENV, PROVIDER_ENV};
use std::path::Path;

/// A part of the configuration file (a top-level table), and of the environment
/// (`CALLREC_<SECTION>_...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Store,
    Orgs,
    Policy,
    Providers,
    Sip,
    Admin,
    Recording,
    Webhooks,
    Worker,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Store,
        Section::Orgs,
        Section::Policy,
        Section::Providers,
        Section::Sip,
        Section::Admin,
        Section::Recording,
        Section::Webhooks,
        Section::Worker,
    ];

    /// Its name in the file and at the head of its fields' paths.
    pub fn key(self) -> &'static str {
        match self {
            Section::Store => "store",
            Section::Orgs => "orgs",
            Section::Policy => "policy",
            Section::Providers => "providers",
            Section::Sip => "sip",
            Section::Admin => "admin",
            Section::Recording => "recording",
            Section::Webhooks => "webhooks",
            Section::Worker => "worker",
        }
    }

    /// The section a field path (`sip.listen`) belongs to.
    pub fn of(field: &str) -> Option<Section> {
        let head = field.split('.').next()?;
        Section::ALL.into_iter().find(|s| s.key() == head)
    }
}

/// A flag the user gave for a setting.
#[derive(Clone, Debug)]
pub struct Flag {
    /// As typed: `--sip`.
    pub name: &'static str,
    /// The field it sets: `sip.listen`.
    pub field: &'static str,
    pub value: String,
}

/// Everything a command's settings come from, besides the environment.
#[derive(Clone, Debug)]
pub struct Sources<'a> {
    /// `--config`, if given.
    pub config: Option<&'a Path>,
    /// What the command reads.
    pub sections: &'a [Section],
    /// The setting flags given (flags not given are left out).
    pub flags: Vec<Flag>,
}

impl<'a> Sources<'a> {
    pub fn new(config: Option<&'a Path>, sections: &'a [Section]) -> Self {
        Sources {
            config,
            sections,
            flags: Vec::new(),
        }
    }

    /// Adds `name`'s value, when given, as the setting of `field`.
    pub fn flag(mut self, name: &'static str, field: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.flags.push(Flag { name, field, value });
        }
        self
    }
}

impl Config {
    /// The settings of a command, from its flags, the process's environment, its
    /// configuration file (see `locate`) and the defaults, in that order; validated (the used
    /// sections only), with errors naming the flag, variable or file that set the value.
    pub fn load(sources: &Sources) -> Result<Config, String> {
        Config::resolve(
            sources,
            &|name| std::env::var(name).ok(),
            Path::new(SYSTEM_CONFIG),
        )
    }

    /// [`Config::load`] with the environment read through `var` and the system-wide file at
    /// `system`.
    pub fn resolve(
        sources: &Sources,
        var: &dyn Fn(&str) -> Option<String>,
        system: &Path,
    ) -> Result<Config, String> {
        let used = |field: &str| Section::of(field).is_some_and(|s| sources.sections.contains(&s));
        let file = locate(sources.config, var, system)?;
        let mut config = match &file {
            None => Config::default(),
            Some(located) => {
                let path = &located.path;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let text = only_sections(&text, sources.sections);
                let mut config = Config::parse_unchecked(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                for field in fields_set(&text) {
                    config.origins.set(&field, Origin::File(path.clone()));
                }
                config
            }
        };
        config.file = file;
        for (name, field, set) in ENV.iter().chain(PROVIDER_ENV) {
            let Some(value) = var(name).filter(|_| used(field)) else {
                continue;
            };
            set(&mut config, &value)
                .map_err(|e| format!("{name}: '{}' {e}", shown(name, &value)))?;
            config.origins.set(field, Origin::Env(name.to_string()));
        }
        for flag in &sources.flags {
            let (_, _, set) = ENV
                .iter()
                .find(|(_, field, _)| *field == flag.field)
                .expect("every setting flag names a field the environment can set");
            set(&mut config, &flag.value)
                .map_err(|e| format!("{}: '{}' {e}", flag.name, flag.value))?;
            config
                .origins
                .set(flag.field, Origin::Flag(flag.name.to_string()));
        }
        config
            .validate_sections(sources.sections)
            .map_err(|e| config.origins.rename(e))?;
        Ok(config)
    }
}

/// A variable's value as an error may show it: a secret's never is.
pub(super) fn shown<'a>(name: &str, value: &'a str) -> &'a str {
    match name {
        "CALLREC_SECRETS_KEY" => "(hidden)",
        _ => value,
    }
}

/// `text` with the lines of every known section not in `sections` blanked (line numbers stay
/// right for error messages). Unknown sections are kept, so that their names are refused.
fn only_sections(text: &str, sections: &[Section]) -> String {
    let skipped = |name: &str| Section::of(name).is_some_and(|s| !sections.contains(&s));
    let mut in_skipped = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let blank = if let Some(header) = trimmed.strip_prefix('[') {
            let name = header.trim_start_matches('[').trim_start();
            let name = name.split(['.', ']', ' ', '"', '\'']).next().unwrap_or("");
            in_skipped = skipped(name);
            in_skipped
        } else if in_skipped {
            true
        } else {
            // A top-level key (`sip.listen = ...` or `sip = { ... }`) before any table.
            let key = trimmed.split(['.', '=', ' ']).next().unwrap_or("");
            !key.is_empty() && !trimmed.starts_with('#') && skipped(key)
        };
        match blank {
            true => out.push_str(if line.ends_with('\n') { "\n" } else { "" }),
            false => out.push_str(line),
        }
    }
    out
}

/// The field paths a (valid) file sets, two levels deep (`sip.listen`, `orgs.acme`).
fn fields_set(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut fields = Vec::new();
    for (section, value) in table {
        match value.as_table() {
            Some(inner) => fields.extend(inner.keys().map(|k| format!("{section}.{k}"))),
            None => fields.push(section),
        }
    }
    fields
}

#[cfg(test)]
mod tests;
