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

/// The language a viewer wrote in, to answer in it when the FAQ has it. Told from the script
/// (Han, kana, Hangul, Thai, Cyrillic, Arabic, Devanagari) and, for Latin script, from the
/// letters and short common words only some languages use; English when nothing points
/// elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Chinese,
    English,
    Japanese,
    Korean,
    Thai,
    Vietnamese,
    Indonesian,
    Spanish,
    Portuguese,
    French,
    German,
    Russian,
    Arabic,
    Hindi,
}

/// Letters of Latin script that only some languages use.
const MARKED_LETTERS: &[(Language, &str)] = &[
    (Language::Vietnamese, "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"),
    (Language::Spanish, "ñ¿¡"),
    (Language::Portuguese, "ãõ"),
    (Language::German, "äöüß"),
    (Language::French, "èêëîïûœ"),
];

/// Short, common words of Latin-script languages (not English, the default).
const COMMON_WORDS: &[(Language, &[&str])] = &[
    (
        Language::Spanish,
        &[
            "el", "la", "los", "las", "es", "que", "con", "por", "para", "una", "del", "se", "hay", "puedo", "cuanto",
            "cuánto", "tiene", "envío", "hola", "qué", "cómo", "sí", "hacen",
        ],
    ),
    (
        Language::Portuguese,
        &[
            "o", "os", "as", "é", "não", "com", "para", "uma", "do", "da", "tem", "posso", "quanto", "você", "meu",
            "minha", "como", "frete", "olá", "obrigado",
        ],
    ),
    (
        Language::French,
        &[
            "le",
            "les",
            "est",
            "et",
            "je",
            "vous",
            "pour",
            "pas",
            "une",
            "des",
            "du",
            "ça",
            "c'est",
            "est-ce",
            "quand",
            "combien",
            "livraison",
            "bonjour",
            "on",
            "au",
        ],
    ),
    (
        Language::German,
        &[
            "der", "die", "das", "und", "ist", "nicht", "ich", "wie", "ein", "eine", "kann", "wann", "lange", "hält",
            "versand", "hallo", "mit", "auf",
        ],
    ),
    (
        Language::Indonesian,
        &[
            "apa", "ini", "itu", "bisa", "tidak", "ada", "yang", "dan", "di", "ke", "untuk", "berapa", "kak", "gak",
            "nggak", "sudah", "saya", "dong", "bayar", "harga", "kirim", "apakah", "tempat", "dengan",
        ],
    ),
];

impl Language {
    /// The language of `text`, as described on the type.
    pub fn detect(text: &str) -> Self {
        let normalised = normalise(text);
        let (mut han, mut latin_words) = (0usize, 0usize);
        let mut other = [0usize; 7];
        for c in normalised.chars() {
            let slot = match c {
                '\u{3040}'..='\u{30FF}' => 0,
                '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' => 1,
                '\u{0E00}'..='\u{0E7F}' => 2,
                '\u{0400}'..='\u{04FF}' => 3,
                '\u{0600}'..='\u{06FF}' => 4,
                '\u{0900}'..='\u{097F}' => 5,
                _ => 6,
            };
            if let Some(count) = other.get_mut(slot) {
                *count += 1;
            }
        }
        for (script, word) in words(&normalised) {
            match script {
                Script::Han => han += word.chars().count(),
                Script::Latin => latin_words += 1,
                Script::Number => {}
            }
        }
        let scripts = [
            (Self::Japanese, other[0]),
            (Self::Korean, other[1]),
            (Self::Thai, other[2]),
            (Self::Russian, other[3]),
            (Self::Arabic, other[4]),
            (Self::Hindi, other[5]),
        ];
        if other[0] > 0 {
            return Self::Japanese;
        }
        if let Some((language, _)) = scripts.iter().filter(|(_, n)| *n > 0).max_by_key(|(_, n)| *n)
            && scripts.iter().map(|(_, n)| n).sum::<usize>() >= han
        {
            return *language;
        }
        if han > 0 && han >= latin_words {
            return Self::Chinese;
        }
        Self::latin(&normalised, text)
    }

    /// The language of Latin-script text: marked letters first, then common words.
    fn latin(normalised: &str, text: &str) -> Self {
        let lower = text.to_lowercase();
        if let Some((language, _)) =
            MARKED_LETTERS.iter().find(|(_, letters)| lower.chars().any(|c| letters.contains(c)))
        {
            return *language;
        }
        let words: Vec<&str> = normalised.split(' ').collect();
        let mut best = (Self::English, 0);
        for (language, common) in COMMON_WORDS {
            let found = words.iter().filter(|w| common.contains(w)).count();
            if found > best.1 {
                best = (*language, found);
            }
        }
        let english = words.iter().filter(|w| ENGLISH_WORDS.contains(w)).count();
        if best.1 > english { best.0 } else { Self::English }
    }

    /// The language subtag (BCP 47) that picks this language's text from a catalog `Text`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Chinese => "zh",
            Self::English => "en",
            Self::Japanese => "ja",
            Self::Korean => "ko",
            Self::Thai => "th",
            Self::Vietnamese => "vi",
            Self::Indonesian => "id",
            Self::Spanish => "es",
            Self::Portuguese => "pt",
            Self::French => "fr",
            Self::German => "de",
            Self::Russian => "ru",
            Self::Arabic => "ar",
            Self::Hindi => "hi",
        }
    }
}

/// Short English words that outvote a stray word of another language ("do" is also Portuguese).
const ENGLISH_WORDS: &[&str] = &[
    "the", "is", "it", "a", "an", "do", "does", "can", "i", "you", "to", "of", "and", "in", "for", "how", "what",
    "when", "where", "which", "this", "my", "are", "with", "there", "will",
];

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
    for run in chars.chunk_by(|a, b| a == b) {
        let (Some(&c), repeated) = (run.first(), run.len()) else { continue };
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
    fn languages_are_told_by_script_letters_and_common_words() {
        for (text, language) in [
            ("这个dishwasher safe吗", Language::Chinese),
            ("is this 龙井 good", Language::English),
            ("666", Language::English),
            ("包邮吗", Language::Chinese),
            ("いつ発送されますか", Language::Japanese),
            ("敏感肌でも使えますか", Language::Japanese),
            ("해외 배송 되나요?", Language::Korean),
            ("ส่งของเมื่อไหร่คะ", Language::Thai),
            ("Có ship quốc tế không?", Language::Vietnamese),
            ("Bisa bayar di tempat?", Language::Indonesian),
            ("¿Puedo pagar con PayPal?", Language::Spanish),
            ("Est-ce que je dois payer des frais de douane ?", Language::French),
            ("Wie lange hält der Akku?", Language::German),
            ("Como rastreio meu pedido?", Language::Portuguese),
            ("Доставка в Москву?", Language::Russian),
            ("do you ship to Spain", Language::English),
            ("can I pay with PayPal", Language::English),
        ] {
            assert_eq!(Language::detect(text), language, "{text}");
        }
    }

    #[test]
    fn characters_typed_over_and_over_are_kept_once_but_doubles_and_digits_stay() {
        assert_eq!(normalise("吗吗吗"), "吗");
        assert_eq!(normalise("soooo good"), "so good");
        assert_eq!(normalise("free 好好 看看"), "free 好好 看看");
        assert_eq!(normalise("6666 10000"), "6666 10000");
    }
}
