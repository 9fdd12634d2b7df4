//! Bounds on untrusted YAML, checked before it is deserialized.
//!
//! serde_yaml builds what a document describes, and a small document can describe a lot:
//! anchors and aliases repeat a node without repeating its text (a 1 MB scenario whose 3000
//! files each alias one 900 KB string took 7.9 GB and 24 s), and deeply nested flow
//! collections make libyaml's scanner quadratic (200,000 nested brackets ran past a minute).
//! [`check`] walks the document's parse events once, without building anything, and refuses
//! a document that is too large, too deep, or whose aliases expand past a limit. It stops at
//! the first excess, so a bomb costs no more than the limit.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_yaml;

/// The most bytes of YAML text accepted.
pub const MAX_BYTES: usize = 4 << 20;
/// The deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 64;
/// The most the document may describe once every alias is expanded: the bytes of its
/// scalars plus 16 per node.
pub const MAX_EXPANDED: u64 = 64 << 20;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlLimitError {
    /// The text is too large.
    #[error("{0} bytes of YAML is more than the {MAX_BYTES} accepted")]
    TooLarge(usize),
    /// Collections nest too deeply.
    #[error("YAML nested more than {MAX_DEPTH} collections deep at line {0}")]
    TooDeep(u64),
    /// Aliases expand the document too far.
    #[error("YAML aliases expand the document past {MAX_EXPANDED} bytes (at line {0})")]
    TooLargeExpanded(u64),
    /// The text is not YAML (serde_yaml reports the details).
    #[error("not YAML")]
    Syntax,
}

/// Read a YAML file, at most one byte more than [`MAX_BYTES`] (so [`check`] refuses a larger
/// one without the whole of it in memory).
pub fn read_bounded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_BYTES as u64 + 1).read_to_string(&mut text)?;
    Ok(text)
}

/// Check `text` against the bounds. A syntax error is left for the deserializer to report
/// (with its position): this returns Ok for it when no bound was crossed before it.
pub fn check(text: &str) -> Result<(), YamlLimitError> {
    if text.len() > MAX_BYTES {
        return Err(YamlLimitError::TooLarge(text.len()));
    }
    let mut walk = Walk::default();
    let mut parser = MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit();
    let parser = parser.as_mut_ptr();
    // SAFETY: `parser` points at storage for a yaml_parser_t, which yaml_parser_initialize
    // fills (it fails only on allocation failure, checked); `text` outlives the parser, which
    // is deleted below before returning.
    unsafe {
        if unsafe_yaml::yaml_parser_initialize(parser).fail {
            return Err(YamlLimitError::Syntax);
        }
        unsafe_yaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as u64);
    }
    let result = loop {
        let mut event = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised with its input; `event` is storage for one event,
        // which yaml_parser_parse fills when it succeeds.
        if unsafe { unsafe_yaml::yaml_parser_parse(parser, event.as_mut_ptr()) }.fail {
            break Ok(());
        }
        // SAFETY: the parse succeeded, so the event is initialised.
        let ev = unsafe { event.assume_init_mut() };
        let r = walk.event(ev);
        // SAFETY: `ev` is an event this parser produced, deleted once.
        unsafe { unsafe_yaml::yaml_event_delete(ev) };
        match r {
            Ok(true) => continue,
            Ok(false) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // SAFETY: initialised above, deleted once.
    unsafe { unsafe_yaml::yaml_parser_delete(parser) };
    result
}

/// The state of the walk: the open collections' weights, and each anchor's weight.
#[derive(Default)]
struct Walk {
    open: Vec<(Option<Vec<u8>>, u64)>,
    anchors: HashMap<Vec<u8>, u64>,
    total: u64,
}

/// The weight of a node besides its scalar bytes.
const NODE: u64 = 16;

impl Walk {
    /// Take one event; Ok(false) at the end of the stream.
    fn event(&mut self, ev: &unsafe_yaml::yaml_event_t) -> Result<bool, YamlLimitError> {
        let line = ev.start_mark.line + 1;
        match ev.type_ {
            unsafe_yaml::YAML_STREAM_END_EVENT => return Ok(false),
            unsafe_yaml::YAML_SEQUENCE_START_EVENT | unsafe_yaml::YAML_MAPPING_START_EVENT => {
                // SAFETY: the union member matching the event type; the anchor is null or a
                // NUL-terminated string owned by the event.
                let anchor = unsafe {
                    if ev.type_ == unsafe_yaml::YAML_SEQUENCE_START_EVENT {
                        c_bytes(ev.data.sequence_start.anchor)
                    } else {
                        c_bytes(ev.data.mapping_start.anchor)
                    }
                };
                if self.open.len() >= MAX_DEPTH {
                    return Err(YamlLimitError::TooDeep(line));
                }
                self.open.push((anchor, NODE));
            }
            unsafe_yaml::YAML_SEQUENCE_END_EVENT | unsafe_yaml::YAML_MAPPING_END_EVENT => {
                if let Some((anchor, weight)) = self.open.pop() {
                    self.close(anchor, weight, line)?;
                }
            }
            unsafe_yaml::YAML_SCALAR_EVENT => {
                // SAFETY: the scalar member; the anchor as above.
                let (anchor, len) = unsafe { (c_bytes(ev.data.scalar.anchor), ev.data.scalar.length) };
                self.close(anchor, NODE + len, line)?;
            }
            unsafe_yaml::YAML_ALIAS_EVENT => {
                // SAFETY: the alias member; the anchor is a NUL-terminated string.
                let anchor = unsafe { c_bytes(ev.data.alias.anchor) }.unwrap_or_default();
                // An unknown anchor is the deserializer's error to report.
                let weight = self.anchors.get(&anchor).copied().unwrap_or(NODE);
                self.close(None, weight, line)?;
            }
            _ => {}
        }
        Ok(true)
    }

    /// A node of `weight` is complete: record its anchor and add it to its parent.
    fn close(&mut self, anchor: Option<Vec<u8>>, weight: u64, line: u64) -> Result<(), YamlLimitError> {
        if weight > MAX_EXPANDED {
            return Err(YamlLimitError::TooLargeExpanded(line));
        }
        if let Some(a) = anchor {
            self.anchors.insert(a, weight);
        }
        match self.open.last_mut() {
            Some((_, parent)) => *parent = parent.saturating_add(weight),
            None => self.total = self.total.saturating_add(weight),
        }
        let open: u64 = self.open.iter().fold(0u64, |s, (_, w)| s.saturating_add(*w));
        if self.total.saturating_add(open) > MAX_EXPANDED {
            return Err(YamlLimitError::TooLargeExpanded(line));
        }
        Ok(())
    }
}

/// The bytes of a NUL-terminated string, or None for a null pointer.
///
/// # Safety
/// `p` must be null or point at a NUL-terminated string.
unsafe fn c_bytes(p: *const u8) -> Option<Vec<u8>> {
    // SAFETY: per the function's contract.
    (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p.cast()) }.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        assert_eq!(check("name: x\nargs: [a, b]\nmachine: {seed: 3}\n"), Ok(()));
        assert_eq!(check("base: &b {seed: 1}\nother: *b\n"), Ok(()), "modest aliases are fine");
        assert_eq!(check("a: [unclosed\n"), Ok(()), "syntax errors are the deserializer's to report");
    }

    #[test]
    fn an_alias_bomb_is_refused_cheaply() {
        let big = "x".repeat(900_000);
        let files: Vec<String> = (0..3000).map(|i| format!("{{path: /f{i}, content: *d}}")).collect();
        let doc = format!("description: &d \"{big}\"\nfiles: [{}]\n", files.join(","));
        let started = std::time::Instant::now();
        assert!(matches!(check(&doc), Err(YamlLimitError::TooLargeExpanded(2))));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The classic: nine aliases per level, thirty levels.
        let mut laughs = String::from("a0: &a0 [lol]\n");
        for i in 1..30 {
            let refs = vec![format!("*a{}", i - 1); 9].join(",");
            laughs += &format!("a{i}: &a{i} [{refs}]\n");
        }
        assert!(matches!(check(&laughs), Err(YamlLimitError::TooLargeExpanded(_))));
    }

    #[test]
    fn deep_nesting_and_huge_text_are_refused() {
        let deep = format!("args: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
        let started = std::time::Instant::now();
        assert_eq!(check(&deep), Err(YamlLimitError::TooDeep(1)));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "stops at the limit");
        assert_eq!(check(&format!("{}{}", "[".repeat(60), "]".repeat(60))), Ok(()));
        let huge = format!("description: \"{}\"\n", "x".repeat(MAX_BYTES));
        assert!(matches!(check(&huge), Err(YamlLimitError::TooLarge(_))));
    }
}
