//! What `labgrid-client -p PLACE show` prints, read back: the place's name, who holds it,
//! its reservation, and each acquired resource with its class and parameters. The
//! parameters are printed as a Python literal (`pformat` of a dict); `pylit` reads that.
//!
//! The format is labgrid's (`labgrid/remote/client.py`, `print_place`, and
//! `common.Place.show`), stable since the crossbar days; a line this parser does not know is
//! skipped, a resource block it cannot read is an error naming the resource.

use std::collections::BTreeMap;

use anyhow::{bail, Context};

use super::pylit::{self, Value};

/// One resource of the place, as the coordinator reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The name drivers bind to (the match's rename, or the exporter's resource name).
    pub name: String,
    /// `exporter/group/class/name`.
    pub path: String,
    pub cls: String,
    pub avail: bool,
    pub params: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    pub name: String,
    /// `host/user` holding the place, if anyone does.
    pub acquired: Option<String>,
    pub reservation: Option<String>,
    pub tags: Vec<(String, String)>,
    pub resources: Vec<Resource>,
    /// Resources the place holds whose exporter is gone.
    pub orphaned: Vec<String>,
}

/// `Acquired resource 'NAME' (PATH):` or `Matching resource ...`, `Orphaned resource ...`.
fn resource_header(line: &str) -> Option<(&str, &str, &str)> {
    let (kind, rest) = line.split_once(" resource '")?;
    let (name, rest) = rest.split_once("' (")?;
    let path = rest.strip_suffix(')').or_else(|| rest.strip_suffix("):"))?;
    Some((kind, name, path))
}

pub fn parse(text: &str) -> anyhow::Result<Place> {
    let mut place = Place::default();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("Place '").and_then(|r| r.strip_suffix("':")) {
            place.name = name.to_string();
            continue;
        }
        if let Some((kind, name, path)) = resource_header(line) {
            if kind == "Orphaned" {
                place.orphaned.push(format!("{name} ({path})"));
                continue;
            }
            // The dict follows, indented, possibly over several lines.
            let mut literal = String::new();
            while let Some(l) = lines.peek() {
                if !l.starts_with(' ') {
                    break;
                }
                literal.push_str(l);
                literal.push('\n');
                lines.next();
            }
            place.resources.push(
                resource(name, path, &literal)
                    .with_context(|| format!("labgrid resource '{name}' ({path})"))?,
            );
            continue;
        }
        let Some((key, value)) = line.trim_start().split_once(": ") else {
            continue;
        };
        // Only the place's own two-space-indented keys, not the resource dicts.
        if !line.starts_with("  ") || line.starts_with("   ") {
            continue;
        }
        match key {
            "acquired" if value != "None" => place.acquired = Some(value.to_string()),
            "reservation" => place.reservation = Some(value.to_string()),
            "tags" => {
                place.tags = value
                    .split(", ")
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }
            _ => {}
        }
    }
    if place.name.is_empty() {
        bail!("no \"Place '...':\" line in labgrid-client's output:\n{text}");
    }
    Ok(place)
}

fn resource(name: &str, path: &str, literal: &str) -> anyhow::Result<Resource> {
    let v = pylit::parse(literal).context("reading its parameters")?;
    let Value::Dict(d) = v else {
        bail!("its description is not a dict: {literal}");
    };
    let cls = match d.get("cls") {
        Some(Value::Str(s)) => s.clone(),
        _ => bail!("no class ('cls') in {literal}"),
    };
    let params = match d.get("params") {
        Some(Value::Dict(p)) => p.clone(),
        _ => bail!("no parameters ('params') in {literal}"),
    };
    Ok(Resource {
        name: name.to_string(),
        path: path.to_string(),
        cls,
        avail: matches!(d.get("avail"), Some(Value::Bool(true))),
        params,
    })
}

impl Resource {
    pub fn str_param(&self, key: &str) -> Option<&str> {
        match self.params.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int_param(&self, key: &str) -> Option<i64> {
        match self.params.get(key) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from labgrid 26.0.1 (`labgrid-client -p farm show`, place acquired).
    const ACQUIRED: &str = "Place 'farm':
  tags: board=mk112, meter=sdm120
  matches:
    exp1/bench/NetworkSerialPort/*
  acquired: vm/root
  acquired resources:
    exp1/bench/NetworkSerialPort/console
    exp1/bench/NetworkSerialPort/meter
  created: 2026-12-03 06:21:02.333627
  changed: 2026-12-03 06:21:19.950209
  reservation: 6TBZWMGX8B
Acquired resource 'console' (exp1/bench/NetworkSerialPort/console):
  {'acquired': 'farm',
   'avail': True,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},
              'host': '127.0.0.1',
              'port': 45001,
              'speed': 115200}}
Acquired resource 'meter' (exp1/bench/NetworkSerialPort/meter):
  {'acquired': 'farm',
   'avail': False,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},
              'host': '127.0.0.1',
              'port': 45002,
              'protocol': 'raw',
              'speed': 9600}}
Orphaned resource 'relay' (exp2/bench/NetworkSerialPort/relay)
";

    #[test]
    fn an_acquired_place_and_its_resources() {
        let p = parse(ACQUIRED).expect("parses");
        assert_eq!(p.name, "farm");
        assert_eq!(p.acquired.as_deref(), Some("vm/root"));
        assert_eq!(p.reservation.as_deref(), Some("6TBZWMGX8B"));
        assert_eq!(
            p.tags,
            vec![
                ("board".into(), "mk112".into()),
                ("meter".into(), "sdm120".into())
            ]
        );
        assert_eq!(p.resources.len(), 2);
        let c = &p.resources[0];
        assert_eq!(
            (c.name.as_str(), c.cls.as_str(), c.avail),
            ("console", "NetworkSerialPort", true)
        );
        assert_eq!(c.str_param("host"), Some("127.0.0.1"));
        assert_eq!(c.int_param("port"), Some(45001));
        assert_eq!(p.resources[1].str_param("protocol"), Some("raw"));
        assert!(!p.resources[1].avail);
        assert_eq!(
            p.orphaned,
            vec!["relay (exp2/bench/NetworkSerialPort/relay)".to_string()]
        );
    }

    #[test]
    fn an_idle_place() {
        let p = parse("Place 'b2':\n  matches:\n  acquired: None\n  acquired resources:\n").expect("parses");
        assert_eq!((p.name.as_str(), p.acquired, p.reservation), ("b2", None, None));
    }

    #[test]
    fn a_broken_resource_block_names_the_resource() {
        let text = "Place 'x':\nAcquired resource 'meter' (e/g/NetworkSerialPort/meter):\n  {'cls': 'NetworkSerialPort', 'params': {'host': '127.0.0.1'\n";
        let e = format!("{:#}", parse(text).expect_err("truncated"));
        assert!(e.contains("'meter'"), "{e}");
        let e = format!("{:#}", parse("no place here").expect_err("not show output"));
        assert!(e.contains("Place"), "{e}");
    }
}
