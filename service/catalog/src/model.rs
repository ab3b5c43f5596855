use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A text in one or more locales, each with one or more variants (rotated when spoken).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text(pub BTreeMap<String, Vec<String>>);

impl Text {
    /// The variants for `locale`: exact match, then same language, then `fallback`, then any.
    pub fn resolve<'a>(&'a self, locale: &str, fallback: &str) -> Option<(&'a str, &'a [String])> {
        let language = |l: &str| l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase();
        let found = self
            .0
            .get_key_value(locale)
            .or_else(|| self.0.iter().find(|(l, _)| language(l) == language(locale)))
            .or_else(|| self.0.get_key_value(fallback))
            .or_else(|| self.0.iter().next());
        found.map(|(l, v)| (l.as_str(), v.as_slice())).filter(|(_, v)| !v.is_empty())
    }

    /// The first variant in the resolved locale.
    pub fn first(&self, locale: &str, fallback: &str) -> Option<&str> {
        self.resolve(locale, fallback).and_then(|(_, v)| v.first()).map(String::as_str)
    }

    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Decimal amount as written, e.g. "128.00".
    pub amount: String,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CueCard {
    pub id: String,
    pub text: Text,
    /// Written by `generate_cards` rather than by the studio.
    #[serde(default)]
    pub generated: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaqEntry {
    pub id: String,
    /// The phrasings viewers may use.
    pub q: Text,
    pub a: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: Text,
    /// The brand's name as printed on the packaging (matched against text read in a frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub price: Option<Price>,
    pub promo: Option<Text>,
    /// What makes the product worth buying: each variant is one selling point.
    #[serde(default)]
    pub selling_points: Option<Text>,
    pub tags: Vec<String>,
    pub barcodes: Vec<String>,
    /// Reference photos, as absolute paths resolved at import.
    pub images: Vec<String>,
    pub script: Vec<CueCard>,
    pub faq: Vec<FaqEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u32,
    pub default_locale: String,
    pub faq: Vec<FaqEntry>,
    pub products: Vec<Product>,
    /// Words the studio never wants shown from viewers' messages (competitors, slurs, spam).
    #[serde(default)]
    pub banned_words: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pairs: &[(&str, &[&str])]) -> Text {
        Text(pairs.iter().map(|(l, v)| (l.to_string(), v.iter().map(|s| s.to_string()).collect())).collect())
    }

    #[test]
    fn resolve_prefers_exact_then_language_then_fallback() {
        let t = text(&[("en", &["hello"]), ("zh-CN", &["你好"])]);
        assert_eq!(t.first("zh-CN", "en"), Some("你好"));
        assert_eq!(t.first("en-US", "zh-CN"), Some("hello"));
        assert_eq!(t.first("fr", "zh-CN"), Some("你好"));
        assert_eq!(text(&[("ja", &["こんにちは"])]).first("fr", "en"), Some("こんにちは"));
        assert_eq!(Text::default().first("en", "en"), None);
    }
}
