//! Capabilities gate scenarios (as PICS codes gate Matter tests): a scenario tagged
//! `@needs_<capability>` runs only on a rig that has it; otherwise it is reported as skipped
//! with the reason, never as passed.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Something can press the plug's button.
    Button,
    /// Something can cut and restore the plug's mains input.
    PowerSwitch,
    /// A reference power meter measures what the plug measures.
    ReferenceMeter,
    /// The rig can change the load on the socket.
    LoadControl,
    /// The DUT measures power (device_type "1").
    PowerMonitoring,
    /// The DUT is the simulated plug (it can be restarted as another model).
    SimulatedDut,
    /// The plug's console is read through the serial console driver.
    Console,
    /// The rig has an application image the DUT accepts over the air.
    OtaImage,
    /// The rig has an image the DUT must refuse as corrupt (made from an image of this
    /// project's format, or the rig's `ota_broken_image`).
    OtaBrokenImage,
    /// The rig can make a well-formed image for another device: only this project's
    /// image format names the device an image is for.
    OtaOtherTarget,
    /// The DUT resolves names through plugrig's DNS server (the simulated plug is pointed at
    /// it; a bench plug when the bench's DHCP hands it out).
    RigDns,
    /// The DUT connects over TLS when provisioned with connect_mode 1 (the rig file claims
    /// it; a plug that refuses connect_mode 1 is then reported, not skipped).
    Tls,
    /// The plug's declaration names its firmware (version, company or model), so that
    /// firmware_infor can be checked against it.
    DeclaredFirmware,
}

impl Capability {
    pub fn from_tag(tag: &str) -> Option<Result<Capability, String>> {
        let name = tag.strip_prefix("needs_")?;
        Some(match name {
            "button" => Ok(Capability::Button),
            "power_switch" => Ok(Capability::PowerSwitch),
            "reference_meter" => Ok(Capability::ReferenceMeter),
            "load_control" => Ok(Capability::LoadControl),
            "power_monitoring" => Ok(Capability::PowerMonitoring),
            "sim" => Ok(Capability::SimulatedDut),
            "console" => Ok(Capability::Console),
            "ota_image" => Ok(Capability::OtaImage),
            "ota_broken_image" => Ok(Capability::OtaBrokenImage),
            "ota_other_target" => Ok(Capability::OtaOtherTarget),
            "rig_dns" => Ok(Capability::RigDns),
            "tls" => Ok(Capability::Tls),
            "declared_firmware" => Ok(Capability::DeclaredFirmware),
            other => Err(format!("unknown capability tag @needs_{other}")),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Button => "button",
            Capability::PowerSwitch => "power_switch",
            Capability::ReferenceMeter => "reference_meter",
            Capability::LoadControl => "load_control",
            Capability::PowerMonitoring => "power_monitoring",
            Capability::SimulatedDut => "sim",
            Capability::Console => "console",
            Capability::OtaImage => "ota_image",
            Capability::OtaBrokenImage => "ota_broken_image",
            Capability::OtaOtherTarget => "ota_other_target",
            Capability::RigDns => "rig_dns",
            Capability::Tls => "tls",
            Capability::DeclaredFirmware => "declared_firmware",
        }
    }
}

/// The capabilities a scenario's tags ask for that the rig lacks.
pub fn missing<'a>(
    tags: impl Iterator<Item = &'a String>,
    have: &[Capability],
) -> Result<Vec<Capability>, String> {
    let mut out = Vec::new();
    for t in tags {
        if let Some(c) = Capability::from_tag(t) {
            let c = c?;
            if !have.contains(&c) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_capabilities() {
        let have = [Capability::Button];
        let tags = [
            "needs_button".to_string(),
            "needs_reference_meter".to_string(),
            "rule-x".to_string(),
        ];
        assert_eq!(missing(tags.iter(), &have), Ok(vec![Capability::ReferenceMeter]));
        let bad = ["needs_toaster".to_string()];
        assert!(missing(bad.iter(), &have).is_err());
    }
}
