//! What a live-chat message looks like once the noise is gone: full-width forms folded to
//! ASCII, lower case, punctuation and emoji turned into spaces, a space wherever the script
//! changes (so "这个dishwasher safe吗" is four words), and characters typed over and over
//! ("吗吗吗", "sooo") kept once.

/// Longest run of one repeated letter or Han character kept as typed ("好好", "free");
/// longer runs keep one. Digits are kept as typed.
const LONGEST_REPEAT: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Script {
    Han,
    /// Latin letters (and any other alphabetic script but Han).
    Latin,
    /// Digits: "10000mAh" is the number 10000 and the word "mah".
    Number,
}

/// The language a viewer wrote in, to answer in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Chinese,
    English,
}

impl Language {
    /// Chinese when the message has at least as many Han characters as Latin words.
    pub fn detect(text: &str) -> Self {
        let normalised = normalise(text);
        let (mut han, mut latin_words) = (0usize, 0usize);
        for (script, word) in words(&normalised) {
            match script {
                Script::Han => han += word.chars().count(),
                Script::Latin => latin_words += 1,
                Script::Number => {}
            }
        }
        if han > 0 && han >= latin_words { Self::Chinese } else { Self::English }
    }

    /// The language subtag that picks this language's text from a catalog `Text`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Chinese => "zh",
            Self::English => "en",
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2EBEF}')
}

fn script(c: char) -> Option<Script> {
    if is_han(c) {
        Some(Script::Han)
    } else if c.is_numeric() {
        Some(Script::Number)
    } else if c.is_alphabetic() {
        Some(Script::Latin)
    } else {
        None
    }
}

/// Folds a full-width ASCII form (ＡＢＣ, ０１２, ！) or the ideographic space to ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// The message as described in the module documentation: single-script words separated by
/// single spaces.
pub(crate) fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().map(fold_width).flat_map(char::to_lowercase).collect();
    let mut out = String::with_capacity(text.len());
    let mut previous_script = None;
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let repeated = chars[at..].iter().take_while(|&&next| next == c).count();
        at += repeated;
        let Some(kind) = script(c) else {
            previous_script = None;
            continue;
        };
        if previous_script != Some(kind) && !out.is_empty() {
            out.push(' ');
        }
        let kept = if repeated > LONGEST_REPEAT && !c.is_numeric() { 1 } else { repeated };
        out.extend(std::iter::repeat_n(c, kept));
        previous_script = Some(kind);
    }
    out
}

/// The words of a normalised text, each in one script.
pub(crate) fn words(normalised: &str) -> impl Iterator<Item = (Script, &str)> {
    normalised.split(' ').filter_map(|word| Some((script(word.chars().next()?)?, word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_case_punctuation_and_emoji_are_folded_away() {
        assert_eq!(normalise("ＦＲＥＥ　Shipping？！😍"), "free shipping");
        assert_eq!(normalise("包邮吗？？？"), "包邮吗");
        assert_eq!(normalise("主播，这个能用洗碗机吗"), "主播 这个能用洗碗机吗");
    }

    #[test]
    fn scripts_and_numbers_become_separate_words() {
        assert_eq!(normalise("这个dishwasher safe吗"), "这个 dishwasher safe 吗");
        assert_eq!(normalise("10000mAh充电宝"), "10000 mah 充电宝");
        assert_eq!(normalise("iphone 15能用吗"), "iphone 15 能用吗");
        assert_eq!(
            words("iphone 15 能用吗").map(|(script, _)| script).collect::<Vec<_>>(),
            [Script::Latin, Script::Number, Script::Han]
        );
    }

    #[test]
    fn characters_typed_over_and_over_are_kept_once_but_doubles_and_digits_stay() {
        assert_eq!(normalise("吗吗吗"), "吗");
        assert_eq!(normalise("soooo good"), "so good");
        assert_eq!(normalise("free 好好 看看"), "free 好好 看看");
        assert_eq!(normalise("6666 10000"), "6666 10000");
    }
}
