//! A YAML (and therefore JSON) document as a tree in which every node knows where it was written.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::Problem;

/// Line and column, both 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Location {
    fn from(m: Marker) -> Self {
        Location { line: m.line(), column: m.col() + 1 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    /// A scalar; `plain` is false when it was quoted or a block (so it is always a string).
    Scalar {
        value: String,
        plain: bool,
        at: Location,
    },
    Seq {
        items: Vec<Node>,
        at: Location,
    },
    Map {
        entries: Vec<(String, Location, Node)>,
        at: Location,
    },
}

impl Node {
    pub(crate) fn at(&self) -> Location {
        match self {
            Node::Scalar { at, .. } | Node::Seq { at, .. } | Node::Map { at, .. } => *at,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true, .. } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            _ if self.is_null() => "nothing",
            Node::Scalar { .. } => "a scalar",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a map",
        }
    }
}

/// Parses one document. Aliases and tags are refused: catalog files are plain data.
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let at = Location::from(*e.marker());
        return Err(Problem::new(at, "", format!("not valid YAML or JSON: {}", e.info())));
    }
    if let Some(problem) = builder.problem {
        return Err(problem);
    }
    let mut documents = builder.documents.into_iter();
    match (documents.next(), documents.next()) {
        (None, _) => Err(Problem::new(Location { line: 1, column: 1 }, "", "the file is empty".into())),
        (Some(only), None) => Ok(only),
        (Some(_), Some(second)) => Err(Problem::new(second.at(), "", "only one document per file".into())),
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Partial>,
    documents: Vec<Node>,
    problem: Option<Problem>,
}

enum Partial {
    Seq(Vec<Node>, Location),
    Map(Vec<(String, Location, Node)>, Option<(String, Location)>, Location),
}

const MAX_DEPTH: usize = 64;

impl Builder {
    fn fail(&mut self, at: Location, message: &str) {
        if self.problem.is_none() {
            self.problem = Some(Problem::new(at, "", message.to_owned()));
        }
    }

    fn finish(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Partial::Seq(items, _)) => items.push(node),
            Some(Partial::Map(entries, key, _)) => match key.take() {
                Some((k, at)) => {
                    if entries.iter().any(|(existing, _, _)| *existing == k) {
                        let message = format!("key {k:?} appears twice");
                        self.fail(at, &message);
                    } else {
                        entries.push((k, at, node));
                    }
                }
                None => match node {
                    Node::Scalar { value, at, .. } => *key = Some((value, at)),
                    other => {
                        let at = other.at();
                        self.fail(at, "a map key must be a plain string");
                    }
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.problem.is_some() {
            return;
        }
        let at = Location::from(mark);
        match event {
            Event::Alias(_) => self.fail(at, "YAML aliases are not supported in catalog files"),
            Event::Scalar(_, _, _, Some(_)) | Event::SequenceStart(_, Some(_)) | Event::MappingStart(_, Some(_)) => {
                self.fail(at, "YAML tags are not supported in catalog files")
            }
            Event::Scalar(value, style, _, None) => {
                self.finish(Node::Scalar { value, plain: style == TScalarStyle::Plain, at })
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(at, "nested too deeply")
            }
            Event::SequenceStart(..) => self.stack.push(Partial::Seq(Vec::new(), at)),
            Event::MappingStart(..) => self.stack.push(Partial::Map(Vec::new(), None, at)),
            Event::SequenceEnd => {
                if let Some(Partial::Seq(items, at)) = self.stack.pop() {
                    self.finish(Node::Seq { items, at });
                }
            }
            Event::MappingEnd => {
                if let Some(Partial::Map(entries, _, at)) = self.stack.pop() {
                    let at = entries.first().map_or(at, |(_, key_at, _)| *key_at);
                    self.finish(Node::Map { entries, at });
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_their_line_and_column() {
        let node = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        let Node::Map { entries, .. } = node else { panic!("not a map") };
        assert_eq!(entries[0].0, "a");
        assert_eq!(entries[1].1, Location { line: 2, column: 1 });
        let Node::Seq { items, .. } = &entries[1].2 else { panic!("not a list") };
        assert_eq!(items[1], Node::Scalar { value: "y".into(), plain: false, at: Location { line: 4, column: 5 } });
    }

    #[test]
    fn json_parses_through_the_same_reader() {
        let node = parse("{\"a\": [1, \"two\"],\n \"b\": {\"c\": null}}").unwrap();
        let Node::Map { entries, .. } = node else { panic!("not a map") };
        assert_eq!(entries.len(), 2);
        assert!(matches!(&entries[1].2, Node::Map { entries, .. } if entries[0].2.is_null()));
    }

    #[test]
    fn duplicate_keys_aliases_and_syntax_errors_are_located() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("twice")), (2, true), "{e}");
        let e = parse("a: &x 1\nb: *x\n").unwrap_err();
        assert!(e.message.contains("aliases"), "{e}");
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&text).unwrap_err().message.contains("deeply"));
    }
}
