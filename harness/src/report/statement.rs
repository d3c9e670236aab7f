//! A statement of a run's verdicts that anyone can verify: `plugrig run --report DIR
//! --statement KEY` writes `DIR/statement.json`, an in-toto Statement v1 with a test-result
//! predicate, signed as a DSSE envelope with an Ed25519 key; `plugrig verify DIR --key PUB`
//! checks the signature and re-hashes every file the statement names.
//!
//! - The subject is what was judged: the firmware image's (or plug-sim binary's) SHA-256;
//!   where no image is known (a third-party plug), the plug's identity and the version it
//!   reported, as `plug:<prefix>@<version>` with the SHA-256 of that text.
//! - The predicate (`https://in-toto.io/attestation/test-result/v0.1`): `result` (PASSED,
//!   WARNED when only advisory rules failed, FAILED), `configuration` (the rig file, which
//!   holds the plug's claims today, with its SHA-256), the rule ids in `passedTests`,
//!   `warnedTests` (advisory) and `failedTests`, and a `plugrig` object: plugrig's version,
//!   commit and tree, the DUT's identity, every rule with its outcome (passed, failed,
//!   advisory, not applicable, not checkable, not selected: `rule_outcomes`), and the
//!   SHA-256 of each report file and capture.
//! - The envelope (DSSE v1): `payloadType` `application/vnd.in-toto+json`, the statement
//!   base64-encoded, and one signature over PAE(payloadType, payload) =
//!   `DSSEv1 <len> <type> <len> <payload>`; `keyid` is the SHA-256 of the public key's DER.
//! - Keys: `plugrig keygen --out PREFIX` writes the secret key to PREFIX (PKCS#8 PEM, mode
//!   0600) and the public key to PREFIX.pub (SPKI PEM): OpenSSL reads both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use oracle::rules::{Source, RULES};
use serde_json::{json, Value};

use crate::provenance::{sha256_bytes, sha256_file, COMMIT, TREE, VERSION};
use crate::scenario::record::{DutIdentity, Outcome, ScenarioRecord};

pub const FILE: &str = "statement.json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";

/// DSSE's pre-authentication encoding: what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A new key pair: the secret key to `prefix`, the public key to `prefix.pub`.
pub fn keygen(prefix: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut seed = [0u8; 32];
    // The kernel's randomness (getrandom(2)); a short read is an error, never a weak key.
    // SAFETY: getrandom writes at most len bytes into the buffer given.
    let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    ensure!(n == seed.len() as isize, "getrandom gave {n} of 32 bytes");
    let key = SigningKey::from_bytes(&seed);
    let secret = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the secret key: {e}"))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))?;
    let pub_path = PathBuf::from(format!("{}.pub", prefix.display()));
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(prefix)
            .with_context(|| {
                format!(
                    "creating {} (an existing key is never overwritten)",
                    prefix.display()
                )
            })?;
        f.write_all(secret.as_bytes())?;
    }
    std::fs::write(&pub_path, public).with_context(|| format!("writing {}", pub_path.display()))?;
    Ok((prefix.to_path_buf(), pub_path))
}

pub fn read_secret_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the key {}", path.display()))?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: not an Ed25519 secret key in PKCS#8 PEM ({e})",
            path.display()
        )
    })
}

pub fn read_public_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the key {}", path.display()))?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 public key in SPKI PEM ({e})", path.display()))
}

fn key_id(key: &VerifyingKey) -> anyhow::Result<String> {
    let der = key
        .to_public_key_der()
        .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))?;
    Ok(sha256_bytes(der.as_bytes()))
}

/// Why a rule was or was not judged in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOutcome {
    Passed,
    Failed,
    /// Failed, but only [profile] and the run said those are advisory.
    Advisory,
    /// The plug does not claim what the rule is about (no power monitoring, no TLS).
    NotApplicable,
    /// The rig lacks what judging it needs (an instrument, an actuator, quiet timing).
    NotCheckable,
    /// No scenario of this run checks it (the tags left them out).
    NotSelected,
}

impl RuleOutcome {
    pub fn name(self) -> &'static str {
        match self {
            RuleOutcome::Passed => "passed",
            RuleOutcome::Failed => "failed",
            RuleOutcome::Advisory => "advisory",
            RuleOutcome::NotApplicable => "not applicable",
            RuleOutcome::NotCheckable => "not checkable",
            RuleOutcome::NotSelected => "not selected",
        }
    }
}

/// Capabilities a plug claims (or not); a scenario skipped for lack of one of these is not
/// applicable to the plug. Every other missing capability is the rig's.
const PLUG_CLAIMS: &[&str] = &["power_monitoring", "tls", "ota_other_target", "declared_firmware"];

/// Why a scenario the rig skipped was not judged: not applicable (the plug does not claim
/// what it needs) or not checkable (the rig lacks it).
pub fn not_judged(skip_reason: &str) -> RuleOutcome {
    if not_applicable(skip_reason) {
        RuleOutcome::NotApplicable
    } else {
        RuleOutcome::NotCheckable
    }
}

/// Whether a skipped scenario was skipped for what the plug does not claim.
fn not_applicable(skip_reason: &str) -> bool {
    skip_reason
        .strip_prefix("needs ")
        .is_some_and(|needs| needs.split(", ").all(|n| PLUG_CLAIMS.contains(&n)))
}

/// Each rule's outcome from the scenarios that check it (`@rule-<id>` tags): failed if one
/// failed (advisory if the run made [profile] advisory and the rule is [profile]); passed
/// if one passed and none failed; else, for scenarios all skipped, not applicable when the
/// plug does not claim what they need, not checkable otherwise; not selected when none ran.
pub fn rule_outcomes(
    records: &[ScenarioRecord],
    advisory_profile: bool,
) -> BTreeMap<&'static str, RuleOutcome> {
    RULES
        .iter()
        .map(|rule| {
            let of: Vec<&ScenarioRecord> = records
                .iter()
                .filter(|s| s.rules().any(|r| r == rule.id) && s.quarantine.is_none())
                .collect();
            let outcome = if of.iter().any(|s| s.outcome == Outcome::Failed) {
                if advisory_profile && rule.source == Source::Profile {
                    RuleOutcome::Advisory
                } else {
                    RuleOutcome::Failed
                }
            } else if of.iter().any(|s| s.outcome == Outcome::Passed) {
                RuleOutcome::Passed
            } else if of.is_empty() {
                RuleOutcome::NotSelected
            } else if of
                .iter()
                .all(|s| s.skip_reason.as_deref().is_some_and(not_applicable))
            {
                RuleOutcome::NotApplicable
            } else {
                RuleOutcome::NotCheckable
            };
            (rule.id, outcome)
        })
        .collect()
}

/// What a statement is made from.
pub struct Inputs<'a> {
    pub report_dir: &'a Path,
    pub records: &'a [ScenarioRecord],
    pub advisory_profile: bool,
    pub dut: &'a DutIdentity,
    pub provenance: &'a crate::provenance::Provenance,
    /// The declared plug's name, when a declaration was named.
    pub declared_name: Option<&'a str>,
}

/// The report files a statement covers: everything in the report directory the run wrote,
/// captures included, except the statement itself and files it did not write (a ledger).
fn report_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let ours = name == "index.html"
            || name == "verdict.txt"
            || name.ends_with(".junit.xml")
            || name.ends_with(".cucumber.json");
        if ours {
            out.push(name);
        }
    }
    let captures = dir.join("captures");
    if captures.is_dir() {
        for entry in std::fs::read_dir(&captures)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".pcapng") {
                out.push(format!("captures/{name}"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files that configured the run: the rig file, then the plug's declaration when one
/// was named (each ResourceDescriptor's `annotations.role` says which).
fn configuration(p: &crate::provenance::Provenance) -> Vec<Value> {
    let entry = |path: &Path, sha: &str, role: &str| {
        json!({
            "name": path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            "uri": path.display().to_string(),
            "digest": { "sha256": sha },
            "annotations": { "role": role },
        })
    };
    let mut out = vec![entry(&p.rig_path, &p.rig_sha256, "rig")];
    if let Some((path, sha)) = &p.declaration {
        out.push(entry(path, sha, "declaration"));
    }
    out
}

/// The in-toto Statement of a run.
pub fn statement(i: &Inputs<'_>) -> anyhow::Result<Value> {
    let rules = rule_outcomes(i.records, i.advisory_profile);
    let ids =
        |o: RuleOutcome| -> Vec<&str> { rules.iter().filter(|(_, v)| **v == o).map(|(k, _)| *k).collect() };
    let result = if !ids(RuleOutcome::Failed).is_empty() {
        "FAILED"
    } else if !ids(RuleOutcome::Advisory).is_empty() {
        "WARNED"
    } else {
        "PASSED"
    };
    let subject = match &i.provenance.firmware {
        Some(f) => json!({
            "name": f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| f.what.clone()),
            "digest": { "sha256": f.sha256 },
            "annotations": { "what": f.what, "flags": f.flags },
        }),
        None => {
            let name = format!(
                "plug:{}@{}",
                i.dut.prefix.as_deref().unwrap_or("unknown"),
                i.dut.firmware_version.as_deref().unwrap_or("unknown")
            );
            json!({
                "name": name,
                "digest": { "sha256": sha256_bytes(name.as_bytes()) },
                "annotations": { "declaration": i.declared_name },
            })
        }
    };
    let mut reports = Vec::new();
    for name in report_files(i.report_dir)? {
        let sha = sha256_file(&i.report_dir.join(&name)).with_context(|| format!("hashing {name}"))?;
        reports.push(json!({ "name": name, "digest": { "sha256": sha } }));
    }
    let rule_list: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "source": match r.source { Source::Spec => "spec", Source::App => "app", Source::Profile => "profile" },
                "outcome": rules.get(r.id).map_or("not selected", |o| o.name()),
            })
        })
        .collect();
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": [subject],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "result": result,
            "configuration": configuration(i.provenance),
            "passedTests": ids(RuleOutcome::Passed),
            "warnedTests": ids(RuleOutcome::Advisory),
            "failedTests": ids(RuleOutcome::Failed),
            "plugrig": {
                "version": VERSION,
                "commit": COMMIT,
                "tree": TREE,
                "rig": i.provenance.rig_name,
                "dut": {
                    "prefix": i.dut.prefix,
                    "device_type": i.dut.device_type,
                    "firmware_version": i.dut.firmware_version,
                    "product_model": i.dut.product_model,
                },
                "started": crate::provenance::rfc3339(i.provenance.started),
                "rules": rule_list,
                "reports": reports,
            },
        },
    }))
}

/// Signs `statement` with `key` as a DSSE envelope.
pub fn envelope(statement: &Value, key: &SigningKey) -> anyhow::Result<Value> {
    let payload = serde_json::to_vec(statement)?;
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": b64.encode(&payload),
        "signatures": [{ "keyid": key_id(&key.verifying_key())?, "sig": b64.encode(sig.to_bytes()) }],
    }))
}

/// Writes `DIR/statement.json`, signed with `key`.
pub fn write(i: &Inputs<'_>, key: &SigningKey) -> anyhow::Result<PathBuf> {
    let env = envelope(&statement(i)?, key)?;
    let path = i.report_dir.join(FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(&env)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// What `verify` found good.
#[derive(Debug)]
pub struct Verified {
    pub result: String,
    pub subject: String,
    pub files: usize,
}

/// Checks `DIR/statement.json`: its signature by `key`, its layout, and every file it
/// names against its SHA-256 (and the rig file and declaration, when given, against the
/// configuration's). The
/// first mismatch is the error, naming the file.
/// The configuration files `verify` re-hashes, when given.
#[derive(Debug, Default, Clone, Copy)]
pub struct Configuration<'a> {
    pub rig: Option<&'a Path>,
    pub plug: Option<&'a Path>,
}

pub fn verify(dir: &Path, key: &Path, config: Configuration<'_>) -> anyhow::Result<Verified> {
    let key = read_public_key(key)?;
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let env: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    ensure!(
        env["payloadType"] == PAYLOAD_TYPE,
        "{FILE}: payloadType is not {PAYLOAD_TYPE}"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(env["payload"].as_str().context("statement.json: no payload")?)
        .context("statement.json: the payload is not base64")?;
    let sigs = env["signatures"]
        .as_array()
        .context("statement.json: no signatures")?;
    let signed = sigs.iter().any(|s| {
        let Some(Ok(bytes)) = s["sig"].as_str().map(|x| b64.decode(x)) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(&pae(PAYLOAD_TYPE, &payload), &sig).is_ok()
    });
    ensure!(
        signed,
        "{FILE}: no signature by this key verifies (the statement was changed, or signed with another key)"
    );
    let st: Value = serde_json::from_slice(&payload).context("statement.json: the payload is not JSON")?;
    ensure!(
        st["_type"] == STATEMENT_TYPE,
        "the payload is not an in-toto Statement v1"
    );
    ensure!(
        st["predicateType"] == PREDICATE_TYPE,
        "the predicate is not a test result"
    );
    let reports = st["predicate"]["plugrig"]["reports"]
        .as_array()
        .context("the statement lists no report files")?;
    let mut listed = std::collections::BTreeSet::new();
    for r in reports {
        let name = r["name"].as_str().context("a report entry without a name")?;
        ensure!(
            !name.starts_with('/') && !name.split('/').any(|p| p == ".."),
            "the statement names {name:?}, outside the report directory"
        );
        let want = r["digest"]["sha256"]
            .as_str()
            .context("a report entry without a digest")?;
        let file = dir.join(name);
        let got = sha256_file(&file)
            .with_context(|| format!("{name}: named by the statement, but cannot be read"))?;
        if got != want {
            bail!("{name}: changed since the statement was signed (SHA-256 {got}, signed {want})");
        }
        listed.insert(name.to_string());
    }
    // A report file or capture added afterwards is not covered: say so.
    for name in report_files(dir)? {
        ensure!(
            listed.contains(&name),
            "{name}: in the report, but not covered by the statement"
        );
    }
    for (role, file) in [("rig", config.rig), ("declaration", config.plug)] {
        let Some(file) = file else { continue };
        let entry = st["predicate"]["configuration"]
            .as_array()
            .and_then(|c| c.iter().find(|e| e["annotations"]["role"] == role));
        let Some(entry) = entry else {
            bail!(
                "{}: the statement names no {role} file (the run had none)",
                file.display()
            );
        };
        let want = entry["digest"]["sha256"].as_str().unwrap_or_default();
        let got = sha256_file(file).with_context(|| format!("reading {}", file.display()))?;
        let what = if role == "rig" {
            "rig file"
        } else {
            "plug declaration"
        };
        ensure!(
            got == want,
            "{}: not the {what} the statement names (SHA-256 {got}, signed {want})",
            file.display()
        );
    }
    Ok(Verified {
        result: st["predicate"]["result"].as_str().unwrap_or_default().to_string(),
        subject: st["subject"][0]["name"].as_str().unwrap_or_default().to_string(),
        files: listed.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        // The DSSE specification's own example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_skip_for_a_claim_is_not_applicable_one_for_an_instrument_not_checkable() {
        assert!(not_applicable("needs power_monitoring"));
        assert!(not_applicable("needs tls"));
        assert!(!not_applicable("needs reference_meter"));
        assert!(!not_applicable("needs power_monitoring, reference_meter"));
        assert!(!not_applicable(
            "the rig's jitter (12 ms) swamps the 10 ms tolerance"
        ));
    }
}
