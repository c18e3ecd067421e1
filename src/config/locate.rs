//! Which configuration file a command reads: the one named (`--config`, else `CALLREC_CONFIG`),
//! else the first that exists of the user's (`$XDG_CONFIG_HOME/callrec/config.toml`, or
//! `~/.config/callrec/config.toml` when `XDG_CONFIG_HOME` is unset) and the system's
//! (`/etc/callrec/config.toml`), else none (the built-in defaults). A file that was named but
//! does not exist is an error naming it and how it was named: a typo must never fall back to
//! another file or to the defaults without a word. Reads no file, only asks whether one exists.

use super::origin::Origin;
use std::path::{Path, PathBuf};

/// Where the system-wide configuration lives.
pub const SYSTEM_CONFIG: &str = "/etc/callrec/config.toml";

/// The variable that names the configuration file when `--config` does not.
pub const CONFIG_VAR: &str = "CALLREC_CONFIG";

/// The configuration file a command reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    /// How it was chosen: `Flag`/`Env` when named, `Default` when found at a standard place.
    pub chosen_by: Origin,
}

impl Located {
    /// Named by the user (`--config` or `CALLREC_CONFIG`), not found at a standard place.
    pub fn named(&self) -> bool {
        matches!(self.chosen_by, Origin::Flag(_) | Origin::Env(_))
    }
}

/// The file to read, by the order in the module doc; `var` reads the environment, `system` is
/// [`SYSTEM_CONFIG`] (a parameter so tests need not touch `/etc`).
pub fn locate(
    flag: Option<&Path>,
    var: &dyn Fn(&str) -> Option<String>,
    system: &Path,
) -> Result<Option<Located>, String> {
    let nonempty = |name: &str| var(name).filter(|v| !v.is_empty());
    let named = match (flag, nonempty(CONFIG_VAR)) {
        (Some(path), _) => Some((path.to_path_buf(), Origin::Flag("--config".into()))),
        (None, Some(path)) => Some((PathBuf::from(path), Origin::Env(CONFIG_VAR.into()))),
        (None, None) => None,
    };
    if let Some((path, chosen_by)) = named {
        if !path.exists() {
            let how = match &chosen_by {
                Origin::Env(name) => format!("{name}={}", path.display()),
                _ => format!("--config {}", path.display()),
            };
            return Err(format!("{how}: no such configuration file"));
        }
        return Ok(Some(Located { path, chosen_by }));
    }
    let user = match (nonempty("XDG_CONFIG_HOME"), nonempty("HOME")) {
        (Some(xdg), _) => Some(PathBuf::from(xdg)),
        (None, Some(home)) => Some(Path::new(&home).join(".config")),
        (None, None) => None,
    };
    let found = user
        .map(|dir| dir.join("callrec").join("config.toml"))
        .into_iter()
        .chain(std::iter::once(system.to_path_buf()))
        .find(|path| path.exists());
    Ok(found.map(|path| Located {
        path,
        chosen_by: Origin::Default,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A scratch directory with the files each case needs.
    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("callrec-locate-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn touch(path: &Path) -> PathBuf {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("dir");
        std::fs::write(path, "").expect("file");
        path.to_path_buf()
    }

    #[test]
    fn the_first_that_exists_wins_in_the_documented_order() {
        let dir = scratch("order");
        let flag = touch(&dir.join("flag.toml"));
        let env = touch(&dir.join("env.toml"));
        let xdg = dir.join("xdg");
        let home = dir.join("home");
        let system = dir.join("etc/callrec/config.toml");
        let env_text = env.display().to_string();
        let xdg_text = xdg.display().to_string();
        let home_text = home.display().to_string();
        let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let find = |flag: Option<&Path>, vars: &HashMap<String, String>| {
            locate(flag, &|n| vars.get(n).cloned(), &system)
                .expect("found or none")
                .map(|l| (l.named(), l.path))
                .map(|(named, path)| (path, named))
        };
        let all = vars(&[
            ("CALLREC_CONFIG", &env_text),
            ("XDG_CONFIG_HOME", &xdg_text),
            ("HOME", &home_text),
        ]);
        // Nothing exists at the standard places yet.
        assert_eq!(find(None, &vars(&[("HOME", &home_text)])), None);
        touch(&system);
        assert_eq!(
            find(None, &vars(&[("HOME", &home_text)])),
            Some((system.clone(), false))
        );
        let in_home = touch(&home.join(".config/callrec/config.toml"));
        assert_eq!(
            find(None, &vars(&[("HOME", &home_text)])),
            Some((in_home.clone(), false))
        );
        // XDG_CONFIG_HOME set: ~/.config is not looked at, the system file still is.
        assert_eq!(
            find(
                None,
                &vars(&[("XDG_CONFIG_HOME", &xdg_text), ("HOME", &home_text)])
            ),
            Some((system.clone(), false))
        );
        let in_xdg = touch(&xdg.join("callrec/config.toml"));
        assert_eq!(
            find(
                None,
                &vars(&[("XDG_CONFIG_HOME", &xdg_text), ("HOME", &home_text)])
            ),
            Some((in_xdg, false))
        );
        assert_eq!(find(None, &all), Some((env.clone(), true)));
        assert_eq!(find(Some(&flag), &all), Some((flag.clone(), true)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error_naming_it() {
        let system = Path::new("/nonexistent/callrec/config.toml");
        let none = |_: &str| None;
        assert_eq!(
            locate(Some(Path::new("typo.toml")), &none, system),
            Err("--config typo.toml: no such configuration file".into())
        );
        let env = |n: &str| (n == CONFIG_VAR).then(|| "/etc/calrec.toml".to_string());
        assert_eq!(
            locate(None, &env, system),
            Err("CALLREC_CONFIG=/etc/calrec.toml: no such configuration file".into())
        );
        assert_eq!(locate(None, &none, system), Ok(None));
    }
}
