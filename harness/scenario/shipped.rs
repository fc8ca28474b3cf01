//! The scenarios shipped in `scenarios/`, built into the binary (build.rs), so that
//! `zerowin run NAME` works from any directory.

include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

/// The text of a shipped scenario by name (with or without `.toml`).
pub fn get(name: &str) -> Option<(&'static str, &'static str)> {
    let want = name.strip_suffix(".toml").unwrap_or(name);
    SHIPPED
        .iter()
        .copied()
        .find(|(file, _)| file.strip_suffix(".toml") == Some(want))
}

/// Writes the shipped scenarios and the scripts they run into `root/scenarios`
/// and `root/scripts`, as in a checkout, and returns `root/scenarios`: the `{dir}`
/// of a shipped scenario run by name.
pub fn materialize(root: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    for (sub, files) in [("scenarios", SHIPPED), ("scripts", SCRIPTS)] {
        let dir = root.join(sub);
        std::fs::create_dir_all(&dir)?;
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::write(&p, text)?;
            if sub == "scripts" {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(root.join("scenarios"))
}
