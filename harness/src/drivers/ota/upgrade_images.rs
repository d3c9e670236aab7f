//! The upgrade images a run offers, in the plug's own format. A plug built here takes this
//! project's format (`format.rs`): plugrig wraps a body in the header with a newer version,
//! and can make a corrupt copy and a copy for another target. Any other plug brings its own
//! image and says which version it carries (rig keys `ota_image`, `ota_version`,
//! `ota_broken_image`); that file is served verbatim, whatever file name the plug asks for.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::OnceCell;

use crate::drivers::dut::DutHandle;
use crate::rig::dut::OtaSource;
use crate::rig::RigFile;
use crate::sync::Locked;

/// The version plugrig writes into images of this project's format.
pub const NEW_VERSION: &str = "000002";
/// The version offered to a plug that already runs NEW_VERSION (one plug, a whole run).
pub const NEXT_VERSION: &str = "000003";

#[derive(Debug)]
pub struct UpgradeImages {
    source: OtaSource,
    body: OnceCell<Arc<Vec<u8>>>,
    /// Built images by target and version: each CRCs the whole body, so once per run.
    built: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl UpgradeImages {
    pub fn of_rig(r: &RigFile) -> UpgradeImages {
        let source = r.dut.ota_source();
        UpgradeImages {
            source,
            body: OnceCell::new(),
            built: Mutex::default(),
        }
    }

    /// A newer image the plug must install (R1) when it runs `running`, and the version
    /// `firmware_infor` must show once it is installed. One plug may serve the whole run (a
    /// bench): once it runs the image's version, the next one is offered.
    pub async fn good_for(&self, rig: &RigFile, running: &str) -> anyhow::Result<(Arc<Vec<u8>>, String)> {
        match &self.source {
            OtaSource::Built { target, .. } => {
                let version = if running == NEW_VERSION {
                    NEXT_VERSION
                } else {
                    NEW_VERSION
                };
                Ok((self.built(rig, target, version).await?, version.to_string()))
            }
            OtaSource::Verbatim {
                version,
                next: Some((next, next_version)),
                ..
            } if running == version.as_str() => Ok((read(next).await?, next_version.clone())),
            OtaSource::Verbatim { image, version, .. } => Ok((read(image).await?, version.clone())),
            OtaSource::None => {
                anyhow::bail!(
                    "the plug declares no upgrade image (upgrade.image or upgrade.body in its declaration)"
                )
            }
        }
    }

    /// The versions the rig's upgrade images carry: what a plug serving the whole run may
    /// report once an upgrade scenario installed one.
    pub fn versions(&self) -> Vec<String> {
        match &self.source {
            OtaSource::Built { .. } => vec![NEW_VERSION.into(), NEXT_VERSION.into()],
            OtaSource::Verbatim { version, next, .. } => std::iter::once(version.clone())
                .chain(next.as_ref().map(|(_, v)| v.clone()))
                .collect(),
            OtaSource::None => Vec::new(),
        }
    }

    /// A well-formed image in the plug's format (to be truncated or stalled: R2).
    pub async fn good(&self, rig: &RigFile) -> anyhow::Result<Arc<Vec<u8>>> {
        match &self.source {
            OtaSource::Built { target, .. } => self.built(rig, target, NEW_VERSION).await,
            OtaSource::Verbatim { image, .. } => read(image).await,
            OtaSource::None => {
                anyhow::bail!(
                    "the plug declares no upgrade image (upgrade.image or upgrade.body in its declaration)"
                )
            }
        }
    }

    /// An image the plug must refuse as corrupt (R2).
    pub async fn broken(&self, rig: &RigFile) -> anyhow::Result<Arc<Vec<u8>>> {
        match &self.source {
            OtaSource::Verbatim {
                broken: Some(path), ..
            } => read(path).await,
            OtaSource::Built { .. } => {
                // The body's CRC no longer matches: flip a bit of the last byte.
                let mut img = (*self.good(rig).await?).clone();
                if let Some(last) = img.last_mut() {
                    *last ^= 0x5A;
                }
                Ok(Arc::new(img))
            }
            _ => anyhow::bail!("the plug declares no broken image (upgrade.broken_image)"),
        }
    }

    /// A well-formed image for another device (R2); only this project's format says which
    /// device an image is for.
    pub async fn other_target(&self, rig: &RigFile) -> anyhow::Result<Arc<Vec<u8>>> {
        match &self.source {
            OtaSource::Built { target, .. } => {
                let other = if target == "esp32c3" { "sim" } else { "esp32c3" };
                self.built(rig, other, NEW_VERSION).await
            }
            _ => anyhow::bail!("images in the plug's own format name no target"),
        }
    }

    async fn built(&self, rig: &RigFile, target: &str, version: &str) -> anyhow::Result<Arc<Vec<u8>>> {
        let key = format!("{target} {version}");
        let cached = self.lock().get(&key).cloned();
        if let Some(img) = cached {
            return Ok(img);
        }
        let body = self.body(rig).await?;
        let img = Arc::new(super::format::build(&super::format::ImageSpec {
            target,
            version,
            body: &body,
        }));
        self.lock().insert(key, img.clone());
        Ok(img)
    }

    async fn body(&self, rig: &RigFile) -> anyhow::Result<Arc<Vec<u8>>> {
        self.body
            .get_or_try_init(|| async {
                let path = match (&self.source, DutHandle::prebuild(&rig.dut).await?) {
                    (OtaSource::Built { body: Some(p), .. }, _) => p.clone(),
                    // The simulated plug's own executable.
                    (_, Some(built)) => built,
                    _ => anyhow::bail!("the plug declares no upgrade.body"),
                };
                read(&path).await
            })
            .await
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<u8>>>> {
        self.built.locked()
    }
}

async fn read(path: &PathBuf) -> anyhow::Result<Arc<Vec<u8>>> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("reading the upgrade image {}", path.display()))?;
    Ok(Arc::new(bytes))
}
