//! A reader for the Python literals labgrid-client prints (`pformat` of a resource's dict):
//! dicts, lists, tuples, quoted strings, integers, floats, True/False/None. No evaluation,
//! no panics: anything else is an error with its byte offset.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Dict(BTreeMap<String, Value>),
    List(Vec<Value>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
}

pub fn parse(text: &str) -> anyhow::Result<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.at != p.s.len() {
        bail!("unexpected text at byte {}: {:?}", p.at, &text[p.at..]);
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> anyhow::Result<u8> {
        self.ws();
        self.s
            .get(self.at)
            .copied()
            .ok_or_else(|| anyhow!("the literal ends early (byte {})", self.at))
    }

    fn expect(&mut self, c: u8) -> anyhow::Result<()> {
        let got = self.peek()?;
        if got != c {
            bail!(
                "expected {:?} at byte {}, found {:?}",
                c as char,
                self.at,
                got as char
            );
        }
        self.at += 1;
        Ok(())
    }

    fn value(&mut self) -> anyhow::Result<Value> {
        match self.peek()? {
            b'{' => self.dict(),
            b'[' => self.seq(b']').map(Value::List),
            b'(' => self.seq(b')').map(Value::List),
            b'\'' | b'"' => self.string().map(Value::Str),
            _ => self.word(),
        }
    }

    fn dict(&mut self) -> anyhow::Result<Value> {
        self.expect(b'{')?;
        let mut d = BTreeMap::new();
        loop {
            if self.peek()? == b'}' {
                self.at += 1;
                return Ok(Value::Dict(d));
            }
            let key = match self.value()? {
                Value::Str(k) => k,
                other => bail!("a dict key that is not a string: {other:?}"),
            };
            self.expect(b':')?;
            let v = self.value()?;
            d.insert(key, v);
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {}
                c => bail!("expected ',' or '}}' at byte {}, found {:?}", self.at, c as char),
            }
        }
    }

    fn seq(&mut self, close: u8) -> anyhow::Result<Vec<Value>> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            if self.peek()? == close {
                self.at += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {}
                c => bail!("expected ',' at byte {}, found {:?}", self.at, c as char),
            }
        }
    }

    fn string(&mut self) -> anyhow::Result<String> {
        let quote = self.s[self.at];
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else {
                bail!("an unterminated string");
            };
            self.at += 1;
            match c {
                _ if c == quote => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else {
                        bail!("an unterminated string");
                    };
                    self.at += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'0' => 0,
                        other => other,
                    });
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| anyhow!("a string that is not UTF-8"))
    }

    fn word(&mut self) -> anyhow::Result<Value> {
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || b"+-._".contains(&self.s[self.at]))
        {
            self.at += 1;
        }
        let w = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
        Ok(match w {
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            "None" => Value::None,
            _ => {
                if let Ok(n) = w.parse::<i64>() {
                    Value::Int(n)
                } else if let Ok(f) = w.parse::<f64>() {
                    Value::Float(f)
                } else {
                    bail!("unexpected {w:?} at byte {start}")
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literals_labgrid_prints() {
        let v = parse("{'a': [1, -2.5, (None,)], \"b\": 'it\\'s', 'c': {'t': True, 'f': False}}")
            .expect("parses");
        let Value::Dict(d) = v else { panic!("a dict") };
        assert_eq!(
            d["a"],
            Value::List(vec![
                Value::Int(1),
                Value::Float(-2.5),
                Value::List(vec![Value::None])
            ])
        );
        assert_eq!(d["b"], Value::Str("it's".into()));
        let Value::Dict(c) = &d["c"] else { panic!("a dict") };
        assert_eq!(c["t"], Value::Bool(true));
    }

    #[test]
    fn malformed_literals_are_errors() {
        for bad in [
            "{'a': 1",
            "{'a' 1}",
            "{1: 2}",
            "'open",
            "[1 2]",
            "{'a': frob}",
            "{} x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
