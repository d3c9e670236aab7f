//! `plugrig image`: the ESP32-C3 firmware as flashable images (a merged flash image, the
//! app image, and with `--ota-version` an OTA image in this project's format).

/// Builds the firmware unless `elf` names it, and writes its images under `out`.
pub fn write_images(
    elf: Option<std::path::PathBuf>,
    out: &std::path::Path,
    ota_version: Option<&str>,
) -> anyhow::Result<()> {
    use crate::drivers::firmware::{build, ota_image};
    use anyhow::Context;
    use instruments::flash::image;
    if let Some(v) = ota_version {
        anyhow::ensure!(
            !v.is_empty() && v.len() <= 16,
            "--ota-version: 1 to 16 bytes, got {v:?}"
        );
    }
    let elf = match elf {
        Some(e) => e,
        None => build::build_firmware()?,
    };
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let images = image::from_elf(&bytes)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, data: &[u8]| -> anyhow::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    };
    write("plug-esp32c3.flash.bin", &images.merged())?;
    write("plug-esp32c3.app.bin", &images.app)?;
    if let Some(v) = ota_version {
        let target = plug_board::ATHOM_C3_BL0942.ota_target;
        write("plug-esp32c3.ota.bin", &ota_image(&images.app, target, v))?;
    }
    println!("app image {}", image::size_line(images.app.len()));
    Ok(())
}
