//! The plug's declaration against the plug (`rig::declaration`; rule `declared-claims`):
//! what 4001 and firmware_infor say of the plug, compared with what its declaration claims.
//! TLS is checked by provisioning with connect_mode 1 (steps in `tls`).

use anyhow::ensure;
use cucumber::then;
use oracle::payloads;

use crate::drivers::timeline::Event;

use crate::scenario::world::PlugWorld;

/// Where the claims come from, for messages: the declaration file, or the rig file's `[dut]`.
fn source(w: &PlugWorld) -> String {
    match &w.ctx.rig.file.declaration {
        Some(d) => format!("the declaration {}", d.path.display()),
        None => format!(
            "the rig file {} ([dut], no declaration)",
            w.ctx.rig.path.display()
        ),
    }
}

/// Each `(key, claimed, reported)` that differs, as lines.
fn mismatches<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>, &'a str)>) -> Vec<String> {
    pairs
        .into_iter()
        .filter_map(|(key, claimed, got)| {
            let claimed = claimed?;
            (claimed != got).then(|| format!("{key}: declared {claimed:?}, the plug says {got:?}"))
        })
        .collect()
}

#[then("the 4001 reply is what the plug's declaration claims")]
async fn identity_as_declared(w: &mut PlugWorld) -> anyhow::Result<()> {
    let id = w.identity()?.clone();
    let power = if w.power_claim { "1" } else { "0" };
    let mut wrong = mismatches([("plug.device_type", Some(power), id.device_type.as_str())]);
    if let Some(d) = &w.ctx.rig.file.declaration {
        let c = &d.declaration.identity;
        wrong.extend(mismatches([
            (
                "identity.device_function",
                c.device_function.as_deref(),
                id.function.as_str(),
            ),
            ("identity.device_name", c.device_name.as_deref(), id.name.as_str()),
        ]));
        // The region's case is not pinned (the vendor's example is lowercase).
        if let Some(s) = &c.device_specifications {
            if !s.eq_ignore_ascii_case(&id.specifications) {
                wrong.push(format!(
                    "identity.device_specifications: declared {s:?}, the plug says {:?}",
                    id.specifications
                ));
            }
        }
    }
    ensure!(
        wrong.is_empty(),
        "the plug is not what {} claims (rule declared-claims): {}",
        source(w),
        wrong.join("; ")
    );
    Ok(())
}

#[then("firmware_infor is what the plug's declaration claims")]
async fn firmware_as_declared(w: &mut PlugWorld) -> anyhow::Result<()> {
    let within = w.periods().firmware_infor_within();
    let (payload, i, _) = w.wait_device(w.mark, "firmware_infor", within).await?;
    let f = payloads::firmware_infor_of(&payload, &w.identity()?.mac)?;
    let Some(d) = w.ctx.rig.file.declaration.as_ref() else {
        anyhow::bail!(
            "no declaration names the firmware: this scenario needs one (@needs_declared_firmware)"
        );
    };
    let c = d.declaration.firmware.clone();
    let mut wrong = mismatches([
        (
            "firmware.company_name",
            c.company_name.as_deref(),
            f.company_name.as_str(),
        ),
        (
            "firmware.product_model",
            c.product_model.as_deref(),
            f.product_model.as_str(),
        ),
    ]);
    if let Some(v) = &c.version {
        // One plug serves a bench's whole run: an earlier upgrade scenario (a repeat, a
        // retry) leaves it on a version of the rig's own upgrade images. A fresh simulated
        // plug has no such excuse.
        let upgraded =
            w.plug.outlives_scenario() && w.ctx.images.versions().iter().any(|u| u == &f.firmware_version);
        if upgraded {
            w.timeline.push(Event::Note(format!(
                "firmware_infor reports {}, an upgrade image's version this rig serves: an earlier scenario upgraded the plug from the declared {v}",
                f.firmware_version
            )));
        } else if *v != f.firmware_version {
            wrong.push(format!(
                "firmware.version: declared {v:?}, the plug says {:?}",
                f.firmware_version
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "the plug is not what {} claims (rule declared-claims): {}",
        source(w),
        wrong.join("; ")
    );
    w.mark = i.after();
    Ok(())
}
