//! What a viewer wrote is never shown to the host or on the stream as is when it carries a
//! phone number, a link or a word the catalog bans: those parts are masked with `*`.

/// Fewest digits that make a phone number (or another number worth hiding, like an order
/// number); prices and quantities have fewer.
const PHONE_DIGITS: usize = 7;

/// Top-level domains that make a bare `name.tld` a link.
const LINK_TLDS: &[&str] = &[
    "com", "cn", "net", "org", "io", "me", "cc", "co", "top", "xyz", "info", "tv", "app", "shop", "link", "ly", "vip",
    "site", "online", "club", "hk", "tw",
];

/// The studio's banned words, matched whatever the case, width and spacing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moderation {
    banned: Vec<Vec<char>>,
}

/// Full-width forms folded to ASCII, lower case, one character for one.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Characters that can be slipped between the letters of a word to hide it.
fn is_filler(c: char) -> bool {
    c.is_whitespace() || (!c.is_alphanumeric() && !is_han(c))
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2EBEF}')
}

impl Moderation {
    pub fn new<'a>(banned_words: impl IntoIterator<Item = &'a str>) -> Self {
        let banned = banned_words
            .into_iter()
            .map(|word| word.chars().map(fold).filter(|c| !is_filler(*c)).collect::<Vec<char>>())
            .filter(|word| !word.is_empty())
            .collect();
        Self { banned }
    }

    /// The text with phone numbers, links and banned words masked, or `None` when it has none.
    pub fn mask(&self, text: &str) -> Option<String> {
        let chars: Vec<char> = text.chars().collect();
        let folded: Vec<char> = chars.iter().map(|&c| fold(c)).collect();
        let mut masked = vec![false; chars.len()];
        mark_links(&folded, &mut masked);
        mark_numbers(&folded, &mut masked);
        self.mark_banned(&folded, &mut masked);
        if !masked.contains(&true) {
            return None;
        }
        Some(
            chars.iter().zip(&masked).map(|(&c, &hidden)| if hidden && !c.is_whitespace() { '*' } else { c }).collect(),
        )
    }

    fn mark_banned(&self, folded: &[char], masked: &mut [bool]) {
        let kept: Vec<(usize, char)> = folded.iter().copied().enumerate().filter(|(_, c)| !is_filler(*c)).collect();
        for word in self.banned.iter().filter(|w| !w.is_empty()) {
            for window in kept.windows(word.len()) {
                if window.iter().map(|(_, c)| c).eq(word.iter())
                    && let (Some(&(first, _)), Some(&(last, _))) = (window.first(), window.last())
                {
                    mark(masked, first..last + 1);
                }
            }
        }
    }
}

/// Masks the characters in `range`.
fn mark(masked: &mut [bool], range: std::ops::Range<usize>) {
    masked.get_mut(range).into_iter().flatten().for_each(|m| *m = true);
}

/// Links: `scheme://...`, `www....` and `name.tld...`, up to the next space or Han character.
fn mark_links(folded: &[char], masked: &mut [bool]) {
    let is_link_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c);
    let mut at = 0;
    for run in folded.chunk_by(|a, b| is_link_char(*a) == is_link_char(*b)) {
        let end = at + run.len();
        if run.first().is_some_and(|&c| is_link_char(c)) && looks_like_link(&run.iter().collect::<String>()) {
            mark(masked, at..end);
        }
        at = end;
    }
}

fn looks_like_link(token: &str) -> bool {
    if token.contains("://") || token.starts_with("www.") {
        return true;
    }
    let host = token.split(['/', '?', '#', ':']).next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels.iter().rev().skip(1).any(|l| l.chars().any(|c| c.is_ascii_alphabetic()))
        && LINK_TLDS.contains(labels.last().unwrap_or(&""))
}

/// Runs of digits (with the spaces, dashes, dots and brackets people write phone numbers with)
/// of at least `PHONE_DIGITS` digits.
fn mark_numbers(folded: &[char], masked: &mut [bool]) {
    let mut at = 0;
    while let Some(&c) = folded.get(at) {
        if !(c.is_ascii_digit() || c == '+') {
            at += 1;
            continue;
        }
        let rest = folded.get(at..).unwrap_or_default();
        let len = rest.iter().position(|&c| !(c.is_ascii_digit() || " -.+()".contains(c))).unwrap_or(rest.len());
        if rest.iter().take(len).filter(|c| c.is_ascii_digit()).count() >= PHONE_DIGITS {
            mark(masked, at..at + len);
        }
        at += len.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_and_links_are_masked_and_prices_are_not() {
        let m = Moderation::default();
        assert_eq!(m.mask("加我 138 1234 5678 便宜").as_deref(), Some("加我 *** **** **** 便宜"));
        assert_eq!(m.mask("电话１３８１２３４５６７８").as_deref(), Some("电话***********"));
        assert_eq!(m.mask("call +1 (415) 555-0100 now").as_deref(), Some("call ** ***** ******** now"));
        assert_eq!(m.mask("看 https://x.cn/a?b=1 领券").as_deref(), Some("看 ****************** 领券"));
        assert_eq!(m.mask("go to www.free-gift.cn").as_deref(), Some("go to ****************"));
        assert_eq!(m.mask("shop.example.com/deal today").as_deref(), Some("********************* today"));
        for clean in ["199元包邮吗", "10000mAh充电宝", "iPhone 15能用吗", "3.5折", "e.g. this", "v1.2"] {
            assert_eq!(m.mask(clean), None, "{clean}");
        }
    }

    #[test]
    fn banned_words_are_masked_whatever_the_case_width_and_spacing() {
        let m = Moderation::new(["加微信", "CompetitorX", " "]);
        assert_eq!(m.mask("快加微信").as_deref(), Some("快***"));
        assert_eq!(m.mask("快加 微-信！").as_deref(), Some("快* ***！"));
        assert_eq!(m.mask("ｃｏｍｐｅｔｉｔｏｒｘ is cheaper").as_deref(), Some("*********** is cheaper"));
        assert_eq!(m.mask("加微 is fine"), None);
    }
}
