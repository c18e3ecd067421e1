//! Where each setting's value came from: a flag, an environment variable, the configuration
//! file or the built-in default. Kept beside the values so that every message about a setting
//! names the thing the user actually typed (`--sip`, `CALLREC_SIP_LISTEN`, `sip.listen` in
//! their file), never only our internal field path. Decides nothing about precedence (that is
//! `layers`).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The source of one setting's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default (no source set it).
    Default,
    /// The configuration file at this path.
    File(PathBuf),
    /// This environment variable.
    Env(String),
    /// This command-line flag (`--sip`).
    Flag(String),
}

/// Every setting's origin, by field path (`sip.listen`); a field not listed is a default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Records that `field` was set from `origin` (a later layer replaces an earlier one).
    pub fn set(&mut self, field: &str, origin: Origin) {
        self.0.insert(field.to_string(), origin);
    }

    /// Where `field`'s value came from: its own entry, else that of the nearest section
    /// that holds it (a file sets `orgs.acme` as a whole), else the default.
    pub fn of(&self, field: &str) -> &Origin {
        let mut path = field;
        loop {
            if let Some(origin) = self.0.get(path) {
                return origin;
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => return &Origin::Default,
            }
        }
    }

    /// How a message names `field`: the flag or the variable the user set, the field and its
    /// file, or (for a default) the field.
    pub fn name(&self, field: &str) -> String {
        match self.of(field) {
            Origin::Default => field.to_string(),
            Origin::File(path) => format!("{} ({field})", path.display()),
            Origin::Env(name) | Origin::Flag(name) => name.clone(),
        }
    }

    /// `error` (as validation words it: `field: reason`) with the field named as the user set
    /// it (see [`Origins::name`]). Errors that name no known field are returned unchanged.
    pub fn rename(&self, error: String) -> String {
        let Some((field, reason)) = error.split_once(": ") else {
            return error;
        };
        let known = field.starts_with(|c: char| c.is_ascii_lowercase())
            && !field.contains(char::is_whitespace);
        match known && *self.of(field) != Origin::Default {
            true => format!("{}: {reason}", self.name(field)),
            false => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_the_user_set() {
        let mut origins = Origins::default();
        assert_eq!(origins.name("sip.listen"), "sip.listen");
        origins.set(
            "sip.listen",
            Origin::File("/etc/callrec/config.toml".into()),
        );
        assert_eq!(
            origins.name("sip.listen"),
            "/etc/callrec/config.toml (sip.listen)"
        );
        origins.set("sip.listen", Origin::Env("CALLREC_SIP_LISTEN".into()));
        assert_eq!(origins.name("sip.listen"), "CALLREC_SIP_LISTEN");
        origins.set("sip.listen", Origin::Flag("--sip".into()));
        assert_eq!(
            origins.rename("sip.listen: the port is in use".into()),
            "--sip: the port is in use"
        );
        assert_eq!(
            origins.rename("sip.max_calls: must be above 0".into()),
            "sip.max_calls: must be above 0"
        );
        origins.set("orgs.acme", Origin::File("callrec.toml".into()));
        assert_eq!(
            origins.rename("orgs.acme.store.url: empty".into()),
            "callrec.toml (orgs.acme.store.url): empty"
        );
    }
}
