//! A small JSON reader for the flat objects of this protocol.
//!
//! Owns: finding where one top-level value ends in a byte stream that has no delimiter
//! (PROTOCOL-NOTES "AP socket: framing"), and decoding a top-level object's members into
//! typed values with their *decoded* string lengths, which the error codes 1 and 2 are
//! about. Nested objects and arrays are skipped (checked for well-formedness, not kept).
//! A top-level value that is not an object is JSON too (code 5, not 4):
//! [`parse_top_keeping`] finds its end without keeping it.
//!
//! Refuses: heap, recursion deeper than [`MAX_DEPTH`], panics on any input.

use heapless::{String, Vec};

/// Longest string value kept; longer ones keep their true length in [`Value::Str`].
pub const STR_CAP: usize = 128;
/// Longest key kept; a longer key cannot name a field of this protocol.
pub const KEY_CAP: usize = 32;
/// Most top-level members kept; further members are checked and dropped.
pub const MEMBER_CAP: usize = 16;
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string: its first [`STR_CAP`] bytes and its full decoded length in bytes.
    Str {
        text: String<STR_CAP>,
        len: usize,
    },
    /// A number without fraction or exponent that fits an i64.
    Int(i64),
    /// Any other number.
    Float,
    Bool(bool),
    Null,
    /// A nested object or array.
    Composite,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String<KEY_CAP>,
    /// The key was longer than [`KEY_CAP`]: it matches no field.
    pub key_truncated: bool,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub members: Vec<Member, MEMBER_CAP>,
}

impl Object {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.members
            .iter()
            .find(|m| !m.key_truncated && m.key == key)
            .map(|m| &m.value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The bytes so far are a valid prefix of an object: wait for more.
    Incomplete,
    /// Not JSON ([`parse_object`]: or JSON whose top level is not an object).
    Invalid,
}

/// One complete top-level JSON value.
// Returned once and taken apart at once, like parse_object's result, whose size it shares.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Top {
    Object(Object),
    /// An array, string, number, true, false or null: JSON, but not a command.
    Other,
}

/// Parses one JSON value of any kind at the start of `input` (after optional whitespace).
/// Returns it and how many bytes it used. Arrays and strings end at their closing byte,
/// literals when complete; a number only once a byte follows that cannot continue it,
/// since the stream has no delimiter and `12` may be the start of `123`.
///
/// Of an object, only the top-level members whose key `keep` accepts are kept: the
/// others are checked and dropped. A reader that knows its fields keeps them however many
/// unknown members come first ([`MEMBER_CAP`] bounds only what is kept).
pub fn parse_top_keeping(input: &[u8], keep: fn(&str) -> bool) -> Result<(Top, usize), JsonError> {
    let mut p = Parser { s: input, i: 0, keep };
    p.ws();
    let top = if p.peek()? == b'{' {
        Top::Object(p.object_top()?)
    } else {
        p.value(1)?;
        Top::Other
    };
    Ok((top, p.i))
}

/// Parses one object at the start of `input` (after optional whitespace).
/// Returns the object and how many bytes it used.
pub fn parse_object(input: &[u8]) -> Result<(Object, usize), JsonError> {
    let mut p = Parser {
        s: input,
        i: 0,
        keep: |_| true,
    };
    p.ws();
    if p.peek()? != b'{' {
        return Err(JsonError::Invalid);
    }
    let obj = p.object_top()?;
    Ok((obj, p.i))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Which top-level members to keep.
    keep: fn(&str) -> bool,
}

impl Parser<'_> {
    fn peek(&self) -> Result<u8, JsonError> {
        self.s.get(self.i).copied().ok_or(JsonError::Incomplete)
    }

    fn bump(&mut self) -> Result<u8, JsonError> {
        let c = self.peek()?;
        self.i += 1;
        Ok(c)
    }

    fn ws(&mut self) {
        while let Some(c) = self.s.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), JsonError> {
        if self.bump()? == c {
            Ok(())
        } else {
            Err(JsonError::Invalid)
        }
    }

    fn object_top(&mut self) -> Result<Object, JsonError> {
        self.expect(b'{')?;
        let mut obj = Object::default();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(obj);
        }
        loop {
            self.ws();
            let mut key: String<KEY_CAP> = String::new();
            let (_, key_len) = self.string(&mut key)?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            let value = self.value(1)?;
            // Duplicate keys: the first one wins, as most readers do.
            if (self.keep)(&key) && obj.get(&key).is_none() {
                let _ = obj.members.push(Member {
                    key,
                    key_truncated: key_len > KEY_CAP,
                    value,
                });
            }
            self.ws();
            match self.bump()? {
                b',' => continue,
                b'}' => return Ok(obj),
                _ => return Err(JsonError::Invalid),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::Invalid);
        }
        match self.peek()? {
            b'"' => {
                let mut text: String<STR_CAP> = String::new();
                let (_, len) = self.string(&mut text)?;
                Ok(Value::Str { text, len })
            }
            b'{' | b'[' => {
                self.skip_composite(depth)?;
                Ok(Value::Composite)
            }
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(JsonError::Invalid),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        for &w in word {
            if self.bump()? != w {
                return Err(JsonError::Invalid);
            }
        }
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let neg = self.peek()? == b'-';
        if neg {
            self.i += 1;
        }
        // An integer past i64 saturates: still an integer, and out of every field's range
        // (code 6, not a type error). Accumulated in its own sign, so i64::MIN fits.
        let mut int: i64 = 0;
        let first = self.peek()?;
        if !first.is_ascii_digit() {
            return Err(JsonError::Invalid);
        }
        let mut digits = 0;
        while let Some(&c) = self.s.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            let d = i64::from(c - b'0');
            int = int.saturating_mul(10);
            int = if neg {
                int.saturating_sub(d)
            } else {
                int.saturating_add(d)
            };
            digits += 1;
            self.i += 1;
        }
        if first == b'0' && digits > 1 {
            return Err(JsonError::Invalid);
        }
        let mut is_int = true;
        if self.s.get(self.i) == Some(&b'.') {
            is_int = false;
            self.i += 1;
            self.digits()?;
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            is_int = false;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        // A number at the very end of the input may continue in the next read.
        if self.i == self.s.len() {
            return Err(JsonError::Incomplete);
        }
        if is_int {
            Ok(Value::Int(int))
        } else {
            Ok(Value::Float)
        }
    }

    fn digits(&mut self) -> Result<(), JsonError> {
        if !self.peek()?.is_ascii_digit() {
            return Err(JsonError::Invalid);
        }
        while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        Ok(())
    }

    /// Reads a string into `out` (truncated at its capacity, on a char boundary).
    /// Returns (kept bytes, full decoded length).
    fn string<const N: usize>(&mut self, out: &mut String<N>) -> Result<(usize, usize), JsonError> {
        self.expect(b'"')?;
        let mut len = 0usize;
        loop {
            let c = self.bump()?;
            let ch: char = match c {
                b'"' => return Ok((out.len(), len)),
                b'\\' => match self.bump()? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => self.unicode_escape()?,
                    _ => return Err(JsonError::Invalid),
                },
                0..=0x1f => return Err(JsonError::Invalid),
                0x20..=0x7f => c as char,
                _ => self.utf8_rest(c)?,
            };
            len += ch.len_utf8();
            let _ = out.push(ch);
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.bump()? {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(JsonError::Invalid),
            };
            v = (v << 4) | u32::from(d);
        }
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            self.expect(b'\\')?;
            self.expect(b'u')?;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(JsonError::Invalid);
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or(JsonError::Invalid)
    }

    fn utf8_rest(&mut self, first: u8) -> Result<char, JsonError> {
        let extra = match first {
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            _ => return Err(JsonError::Invalid),
        };
        let mut buf = [first, 0, 0, 0];
        for b in buf.iter_mut().skip(1).take(extra) {
            *b = self.bump()?;
        }
        core::str::from_utf8(&buf[..=extra])
            .ok()
            .and_then(|s| s.chars().next())
            .ok_or(JsonError::Invalid)
    }

    fn skip_composite(&mut self, depth: usize) -> Result<(), JsonError> {
        let open = self.bump()?;
        let close = if open == b'{' { b'}' } else { b']' };
        self.ws();
        if self.peek()? == close {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if open == b'{' {
                let mut sink: String<0> = String::new();
                self.string(&mut sink)?;
                self.ws();
                self.expect(b':')?;
                self.ws();
            }
            self.value(depth + 1)?;
            self.ws();
            match self.bump()? {
                b',' => continue,
                c if c == close => return Ok(()),
                _ => return Err(JsonError::Invalid),
            }
        }
    }
}

/// The output buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Appends `s` to `out` as a JSON string literal.
pub fn write_str<const N: usize>(out: &mut Vec<u8, N>, s: &str) -> Result<(), Full> {
    out.push(b'"').map_err(|_| Full)?;
    for ch in s.chars() {
        let mut tmp = [0u8; 6];
        let bytes: &[u8] = match ch {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            // Control characters (and NUL, which the Android app stops at) are escaped.
            c if (c as u32) < 0x20 => {
                let hex = b"0123456789abcdef";
                tmp = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    hex[(c as usize) >> 4],
                    hex[(c as usize) & 15],
                ];
                &tmp
            }
            c => c.encode_utf8(&mut tmp).as_bytes(),
        };
        out.extend_from_slice(bytes).map_err(|_| Full)?;
    }
    out.push(b'"').map_err(|_| Full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Any value, every member kept.
    fn parse_top(input: &[u8]) -> Result<(Top, usize), JsonError> {
        parse_top_keeping(input, |_| true)
    }

    #[rstest]
    #[case(br#"{"header":4001}"#, 15)]
    #[case(br#"  {"a" : [1,{"b":null}], "c":"x"}  "#, 33)]
    #[case(b"{}\n", 2)]
    #[case(b"{}\0", 2)]
    fn finds_the_end_of_an_object(#[case] input: &[u8], #[case] end: usize) {
        let (_, used) = parse_object(input).unwrap();
        assert_eq!(used, end);
    }

    #[rstest]
    #[case(b"")]
    #[case(b"{")]
    #[case(br#"{"header":40"#)]
    #[case(br#"{"host":"abc"#)]
    #[case(br#"{"a":tru"#)]
    #[case(br#"{"a":"\u00"#)]
    fn a_prefix_is_incomplete(#[case] input: &[u8]) {
        assert_eq!(parse_object(input), Err(JsonError::Incomplete));
    }

    #[rstest]
    #[case(b"hello")]
    #[case(b"[1,2]")]
    #[case(br#"{"a":01}"#)]
    #[case(br#"{"a" 1}"#)]
    #[case(br#"{"a":1,}"#)]
    #[case(b"{\"a\":\"\x01\"}")]
    #[case(b"{\"a\":\"\xff\"}")]
    fn garbage_is_invalid(#[case] input: &[u8]) {
        assert_eq!(parse_object(input), Err(JsonError::Invalid));
    }

    #[rstest]
    #[case::array(b"[4001]", 6)]
    #[case::nested_array(b" [1,{\"a\":[]}]x", 13)]
    #[case::string(b"\"4001\"", 6)]
    #[case::number_then_newline(b"4001\n", 4)]
    #[case::number_then_nul(b"-1.5e3\0", 6)]
    #[case::true_(b"true", 4)]
    #[case::null_then_more(b"null{}", 4)]
    fn a_complete_value_that_is_not_an_object(#[case] input: &[u8], #[case] end: usize) {
        assert_eq!(parse_top(input), Ok((Top::Other, end)));
    }

    #[rstest]
    #[case(b"4001")]
    #[case(b"-")]
    #[case(b"1.")]
    #[case(b"[4001")]
    #[case(b"\"abc")]
    #[case(b"fals")]
    fn a_value_prefix_is_incomplete(#[case] input: &[u8]) {
        assert_eq!(parse_top(input), Err(JsonError::Incomplete));
    }

    #[rstest]
    #[case(b"hello plug")]
    #[case(b"[1,]")]
    #[case(b"trux")]
    #[case(b"-x")]
    #[case(br#"{"header":40x}"#)]
    fn a_value_that_is_not_json_is_invalid(#[case] input: &[u8]) {
        assert_eq!(parse_top(input), Err(JsonError::Invalid));
    }

    #[test]
    fn an_object_is_an_object_either_way() {
        let (top, used) = parse_top(br#"{"header":4001} "#).unwrap();
        assert_eq!(used, 15);
        assert_eq!(top, Top::Object(parse_object(br#"{"header":4001}"#).unwrap().0));
    }

    #[test]
    fn typed_values_and_decoded_lengths() {
        let (o, _) = parse_object(
            br#"{"s":"a\u00e9\n","i":-12,"f":1.5,"e":1e3,"b":true,"n":null,"big":99999999999999999999}"#,
        )
        .unwrap();
        match o.get("s") {
            Some(Value::Str { text, len }) => {
                assert_eq!(text.as_str(), "a\u{e9}\n");
                assert_eq!(*len, 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(o.get("i"), Some(&Value::Int(-12)));
        assert_eq!(o.get("f"), Some(&Value::Float));
        assert_eq!(o.get("e"), Some(&Value::Float));
        assert_eq!(o.get("b"), Some(&Value::Bool(true)));
        assert_eq!(o.get("n"), Some(&Value::Null));
        // Past i64: still an integer, saturated (out of every range: code 6).
        assert_eq!(o.get("big"), Some(&Value::Int(i64::MAX)));
    }

    #[test]
    fn long_strings_keep_their_true_length() {
        let mut input: Vec<u8, 512> = Vec::new();
        input.extend_from_slice(b"{\"host\":\"").unwrap();
        for _ in 0..300 {
            input.push(b'h').unwrap();
        }
        input.extend_from_slice(b"\"}").unwrap();
        let (o, _) = parse_object(&input).unwrap();
        match o.get("host") {
            Some(Value::Str { text, len }) => {
                assert_eq!(*len, 300);
                assert_eq!(text.len(), STR_CAP);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_are_escaped_on_output() {
        let mut out: Vec<u8, 64> = Vec::new();
        write_str(&mut out, "a\"b\\c\n\u{0}").unwrap();
        assert_eq!(&out[..], br#""a\"b\\c\n\u0000""#);
    }
}
