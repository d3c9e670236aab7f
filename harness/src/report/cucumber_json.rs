//! Measurements in cucumber's JSON report: each scenario's measurements, as JSON, embedded
//! in its last step (`embeddings`, the format's place for attachments), so tools that read
//! Cucumber JSON can trend them.

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::scenario::record::ScenarioRecord;

/// Adds the measurements of `scenarios` to the Cucumber JSON file at `path`, matching each
/// element by its feature file and line.
/// Also gives every feature a `plugrig` object with the run's provenance and rig figures
/// (`run`: name-value pairs, as in the JUnit properties); readers ignore fields they do not
/// know.
pub fn add_measurements(
    scenarios: &[ScenarioRecord],
    run: &[(String, String)],
    secrets: &crate::report::redact::Secrets,
    path: &Path,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // cucumber wrote the failed steps' errors (with their timelines) as the run went.
    let text = secrets.redact(&text);
    let mut doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Some(features) = doc.as_array_mut() else {
        return Ok(());
    };
    let provenance: serde_json::Map<String, Value> = run
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for f in features {
        f["plugrig"] = Value::Object(provenance.clone());
        let uri = f["uri"].as_str().unwrap_or_default().to_string();
        let Some(elements) = f["elements"].as_array_mut() else {
            continue;
        };
        // A Background is an element of its own with its scenario's line: skip it.
        for e in elements.iter_mut().filter(|e| e["type"] == "scenario") {
            let line = e["line"].as_u64().unwrap_or_default() as usize;
            let Some(s) = scenarios
                .iter()
                .find(|s| s.key.line == line && !uri.is_empty() && s.key.feature.ends_with(&uri))
            else {
                continue;
            };
            // The element is the first attempt as cucumber ran it; the verdict after
            // retries and repeats, and a quarantine, are plugrig's to say.
            if s.attempts.total() > 1 || s.quarantine.is_some() {
                e["plugrig"] = scenario_note(s);
            }
            if s.world.measurements.is_empty() {
                continue;
            }
            let data = serde_json::to_vec(&s.world.measurements)?;
            let embedding = json!({
                "name": "measurements",
                "mime_type": "application/json",
                "data": base64::engine::general_purpose::STANDARD.encode(data),
            });
            if let Some(last) = e["steps"].as_array_mut().and_then(|st| st.last_mut()) {
                match last["embeddings"].as_array_mut() {
                    Some(list) => list.push(embedding),
                    None => last["embeddings"] = json!([embedding]),
                }
            }
        }
    }
    std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// A scenario's verdict, attempts and quarantine, for its element's `plugrig` object.
fn scenario_note(s: &ScenarioRecord) -> Value {
    let attempts: Vec<Value> = super::junit::attempts_in_order(s)
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempts.number,
                "outcome": a.outcome.as_str(),
                "class": a.attempts.class.map(|c| c.name()),
                "error": a.first_error(),
            })
        })
        .collect();
    json!({
        "verdict": s.outcome.as_str(),
        "verdict_attempt": s.attempts.number,
        "flaky": s.flaky_pass(),
        "attempts": attempts,
        "quarantine": s.quarantine.as_ref().map(|q| json!({
            "entry": q.entry,
            "reason": q.reason,
            "link": q.link,
            "expires": q.expires,
            "ready_to_release": q.ready_to_release,
        })),
    })
}
