//! Where each node of a YAML document starts, from the parser's own spans: the lines that
//! errors about a pipeline's meaning (an unknown step, a bad reference) point at.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// One step of a path into the document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The 1-based line of every node (and of every mapping key) by its path.
#[derive(Debug, Default)]
pub struct Spans {
    values: HashMap<Vec<Seg>, usize>,
    keys: HashMap<Vec<Seg>, usize>,
}

/// A container being read: a mapping (waiting for a key, or for the value of `key`) or a
/// sequence (at `next` items).
enum Open {
    Mapping { key: Option<String> },
    Sequence { next: usize },
}

impl Spans {
    /// Indexes a document. A document the parser refuses indexes nothing (its syntax error is
    /// reported by the deserializer, with its own line).
    pub fn of(text: &str) -> Spans {
        let mut spans = Spans::default();
        let mut path: Vec<Seg> = Vec::new();
        let mut open: Vec<Open> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            match event {
                Event::Scalar(value, ..) if matches!(open.last(), Some(Open::Mapping { key: None })) => {
                    let mut key_path = path.clone();
                    key_path.push(Seg::Key(value.to_string()));
                    spans.keys.insert(key_path, line);
                    if let Some(Open::Mapping { key }) = open.last_mut() {
                        *key = Some(value.into_owned());
                    }
                }
                Event::Scalar(..) | Event::Alias(_) => {
                    spans.enter(&path, &open, line);
                    next_item(&mut open);
                }
                Event::MappingStart(..) => {
                    path = spans.enter(&path, &open, line);
                    open.push(Open::Mapping { key: None });
                }
                Event::SequenceStart(..) => {
                    path = spans.enter(&path, &open, line);
                    open.push(Open::Sequence { next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    open.pop();
                    path.pop();
                    next_item(&mut open);
                }
                _ => {}
            }
        }
        spans
    }

    /// The path of the node that starts now, recorded at `line`.
    fn enter(&mut self, path: &[Seg], open: &[Open], line: usize) -> Vec<Seg> {
        let mut here = path.to_vec();
        match open.last() {
            Some(Open::Mapping { key: Some(key) }) => here.push(Seg::Key(key.clone())),
            Some(Open::Sequence { next }) => here.push(Seg::Index(*next)),
            _ => {}
        }
        self.values.entry(here.clone()).or_insert(line);
        here
    }

    /// The line where the node at `path` starts.
    pub fn value(&self, path: &[Seg]) -> Option<usize> {
        self.values.get(path).copied()
    }

    /// The line of the mapping key that ends `path`.
    pub fn key(&self, path: &[Seg]) -> Option<usize> {
        self.keys.get(path).copied()
    }
}

/// After a node ends: its mapping waits for the next key, its sequence counts one more item.
fn next_item(open: &mut [Open]) {
    match open.last_mut() {
        Some(Open::Mapping { key }) => *key = None,
        Some(Open::Sequence { next }) => *next += 1,
        None => {}
    }
}

/// A mapping key as a path segment.
pub fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_keys_values_and_items() {
        let text = "name: p\nparameters:\n  alpha: {default: 1}\nsteps:\n  - name: a\n    run: [train,\n      --alpha]\n  - name: \"b\"\n    depends_on:\n      - a\n    run:\n      - x\n";
        let spans = Spans::of(text);
        assert_eq!(spans.key(&[key("parameters"), key("alpha")]), Some(3));
        assert_eq!(spans.key(&[key("steps")]), Some(4));
        assert_eq!(spans.value(&[key("steps"), Seg::Index(0), key("name")]), Some(5));
        assert_eq!(spans.value(&[key("steps"), Seg::Index(0), key("run"), Seg::Index(1)]), Some(7));
        assert_eq!(spans.value(&[key("steps"), Seg::Index(1), key("name")]), Some(8));
        assert_eq!(spans.value(&[key("steps"), Seg::Index(1), key("depends_on"), Seg::Index(0)]), Some(10));
        assert_eq!(spans.value(&[key("steps"), Seg::Index(1), key("run"), Seg::Index(0)]), Some(12));
    }

    #[test]
    fn crlf_and_anchors() {
        let text = "a: &x\r\n  - 1\r\nb: *x\r\nc:\r\n  - 2\r\n";
        let spans = Spans::of(text);
        assert_eq!(spans.value(&[key("a"), Seg::Index(0)]), Some(2));
        assert_eq!(spans.value(&[key("b")]), Some(3));
        assert_eq!(spans.value(&[key("c"), Seg::Index(0)]), Some(5));
    }
}
