//! Where a command runs: the rig file, and the labgrid place to reserve for it when
//! `--place` or the rig's `[farm]` names one (`plugrig run`, `plugrig rig check`).

/// The rig, and the labgrid place to run it on when `--place` or its `[farm]` names one.
pub type PlaceRequest = (
    crate::drivers::farm::labgrid::Client,
    Vec<String>,
    std::time::Duration,
);

pub fn load_with_place(
    path: &std::path::Path,
    plug: Option<&std::path::Path>,
    place: Option<&str>,
) -> anyhow::Result<(crate::rig::Rig, Option<PlaceRequest>)> {
    let loaded = crate::rig::load_with(path, plug)?;
    let request = crate::drivers::farm::request(&loaded.file, place)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
    Ok((loaded, request))
}
