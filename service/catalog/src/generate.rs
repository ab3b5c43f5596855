//! Cue cards written from a product's attributes (name, price, promo, tags, selling points) for
//! products that have too few: several variants per card in every catalog locale that has
//! templates, none with a listed advertising term, none nearly the same as another text the host
//! says for that product.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::lint::{catalog_locales, language, lint_text};
use crate::{Catalog, CueCard, Price, Product, Text};

/// Texts at least this similar (see [`text_similarity`]) are near-duplicates: a generated variant must
/// stay below it against the card's other variants and every other cue card of the product in
/// its locale, and lint warns about existing variants at or above it. At 0.6 a variant that
/// shares a long product name or selling point with another still passes when the rest of its
/// words differ; a copy with a word or two changed does not.
pub const CUE_NEAR_DUPLICATE: f64 = 0.6;

/// How much two texts overlap: the Jaccard index of their sets of character bigrams, ignoring
/// case, spaces and punctuation. 1.0 for the same words, 0.0 for nothing in common.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (bigrams(a), bigrams(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

fn bigrams(text: &str) -> HashSet<(char, char)> {
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    match chars.as_slice() {
        [only] => HashSet::from([(*only, ' ')]),
        _ => chars.iter().copied().zip(chars.iter().copied().skip(1)).collect(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CardKind {
    /// Names the product: `intro`.
    Intro,
    /// One selling point: `point-1`, `point-2`... (the nth selling point of each locale).
    SellingPoint,
    /// Price and promo: `price`.
    Price,
    /// Tells viewers how to buy: `cta`.
    CallToAction,
}

/// A generated cue card.
#[derive(Clone, Debug, PartialEq)]
pub struct AddedCard {
    pub id: String,
    pub kind: CardKind,
    /// How many variants it got in each locale.
    pub variants: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProductReport {
    pub sku: String,
    /// Cue cards the product had.
    pub existing: usize,
    pub added: Vec<AddedCard>,
}

/// What `generate_cards` did: every product, then notes on what it could not do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerateReport {
    pub products: Vec<ProductReport>,
    pub notes: Vec<String>,
}

/// One line per product (`SKU: added intro, point-1, price, cta (variants: en 3, zh-CN 3)`, the
/// most variants a card got in each locale, or `SKU: 3 cue cards, none added`), then one
/// `note: ...` line per note.
impl fmt::Display for GenerateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for product in &self.products {
            if product.added.is_empty() {
                writeln!(f, "{}: {} cue cards, none added", product.sku, product.existing)?;
                continue;
            }
            let ids: Vec<&str> = product.added.iter().map(|c| c.id.as_str()).collect();
            let mut most = BTreeMap::new();
            for (locale, count) in product.added.iter().flat_map(|c| &c.variants) {
                let entry = most.entry(locale.as_str()).or_insert(0);
                *entry = (*entry).max(*count);
            }
            let counts: Vec<String> = most.iter().map(|(l, n)| format!("{l} {n}")).collect();
            writeln!(f, "{}: added {} (variants: {})", product.sku, ids.join(", "), counts.join(", "))?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Adds generated cue cards (marked `generated: true`, after the product's own cards) to every
/// product with fewer than `min_cards`, until it has `min_cards` or no more can be written, each
/// card with up to `variants` variants per locale. The same catalog always gives the same cards.
///
/// Cards are chosen in the order intro, point-1, price, cta, point-2, point-3... and placed in
/// the order intro, points, price, cta; a card whose id the product already uses is left to the
/// studio's card. A locale without templates (only Chinese in simplified script and English have
/// them) gets no texts, and an attribute with a listed advertising term is left out; the report
/// says so.
pub fn generate_cards(catalog: &Catalog, min_cards: usize, variants: usize) -> (Catalog, GenerateReport) {
    let mut report = GenerateReport::default();
    let mut locales = Vec::new();
    for locale in catalog_locales(catalog) {
        match templates_for(&locale) {
            Some(templates) => locales.push((locale, templates)),
            None => {
                report.notes.push(format!("locale {locale}: no templates, so generated cards have no {locale} text"))
            }
        }
    }
    let mut out = catalog.clone();
    for product in &mut out.products {
        let existing = product.script.len();
        let mut added = Vec::new();
        if existing < min_cards && variants > 0 {
            let cards = generate_for_product(product, &locales, min_cards - existing, variants, &mut report.notes);
            for (card, kind) in cards {
                let counts = card.text.0.iter().map(|(l, v)| (l.clone(), v.len())).collect();
                added.push(AddedCard { id: card.id.clone(), kind, variants: counts });
                product.script.push(card);
            }
            if existing + added.len() < min_cards {
                report.notes.push(format!(
                    "{}: {} cue cards, fewer than {min_cards}: add selling_points, a price or a promo for more",
                    product.sku,
                    existing + added.len()
                ));
            }
        }
        report.products.push(ProductReport { sku: product.sku.clone(), existing, added });
    }
    (out, report)
}

/// Up to `wanted` new cards for `product`, in script order.
fn generate_for_product(
    product: &Product,
    locales: &[(String, &'static Templates)],
    wanted: usize,
    variants: usize,
    notes: &mut Vec<String>,
) -> Vec<(CueCard, CardKind)> {
    let attributes: Vec<(&str, &Templates, Attributes)> =
        locales.iter().map(|(l, t)| (l.as_str(), *t, Attributes::of(product, l, notes))).collect();
    let points = attributes.iter().map(|(_, _, a)| a.points.len()).max().unwrap_or(0);
    let has_price_card = attributes.iter().any(|(_, _, a)| a.price.is_some() || a.promo.is_some());
    let mut plan = vec![(CardKind::Intro, None)];
    plan.extend((0..points.min(1)).map(|k| (CardKind::SellingPoint, Some(k))));
    if has_price_card {
        plan.push((CardKind::Price, None));
    }
    plan.push((CardKind::CallToAction, None));
    plan.extend((1..points).map(|k| (CardKind::SellingPoint, Some(k))));

    let mut spoken: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (locale, _, _) in &attributes {
        let texts = product.script.iter().filter_map(|c| in_locale(&c.text, locale)).flatten().cloned().collect();
        spoken.insert(locale, texts);
    }
    let mut cards = Vec::new();
    for (kind, point) in plan {
        if cards.len() == wanted {
            break;
        }
        let id = match point {
            Some(k) => format!("point-{}", k + 1),
            None => kind_id(kind).to_owned(),
        };
        if product.script.iter().any(|c| c.id == id) {
            continue;
        }
        let mut text = BTreeMap::new();
        for (locale, templates, attributes) in &attributes {
            let slots =
                Slots { point: point.and_then(|k| attributes.points.get(k).cloned().flatten()), ..attributes.slots() };
            if kind == CardKind::SellingPoint && slots.point.is_none() {
                continue;
            }
            let taken = spoken.entry(*locale).or_default();
            let seed = stable_hash(&[&product.sku, &id, locale]);
            let chosen = choose_variants(templates.for_kind(kind), &slots, locale, taken, variants, seed);
            if chosen.len() < variants {
                notes.push(format!(
                    "{} {id} {locale}: {} of {variants} variants (the other templates lack an attribute or come out too close to other cue cards)",
                    product.sku,
                    chosen.len()
                ));
            }
            if !chosen.is_empty() {
                taken.extend(chosen.iter().cloned());
                text.insert((*locale).to_owned(), chosen);
            }
        }
        if !text.is_empty() {
            cards.push((CueCard { id, text: Text(text), generated: true }, kind, point));
        }
    }
    cards.sort_by_key(|(_, kind, point)| (*kind, *point));
    cards.into_iter().map(|(card, kind, _)| (card, kind)).collect()
}

/// The templates from `start` on, then those before it.
fn rotated<'a>(templates: &'a [&'a str], start: usize) -> impl Iterator<Item = &'a &'a str> {
    let (before, after) = templates.split_at_checked(start).unwrap_or((templates, &[]));
    after.iter().chain(before)
}

fn kind_id(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Intro => "intro",
        CardKind::SellingPoint => "point",
        CardKind::Price => "price",
        CardKind::CallToAction => "cta",
    }
}

/// Fills the templates (those using the most attributes first, in a rotation chosen by `seed`)
/// and keeps up to `count` texts that have no listed term and are no near-duplicate of one
/// another or of `taken`.
fn choose_variants(
    templates: &[&str],
    slots: &Slots,
    locale: &str,
    taken: &[String],
    count: usize,
    seed: u64,
) -> Vec<String> {
    let start = if templates.is_empty() { 0 } else { (seed % templates.len() as u64) as usize };
    let mut filled: Vec<(usize, String)> =
        rotated(templates, start).filter_map(|template| slots.fill(template)).collect();
    filled.sort_by_key(|(used, _)| Reverse(*used));
    let mut chosen: Vec<String> = Vec::new();
    for (_, text) in filled {
        if chosen.len() == count {
            break;
        }
        let near = taken.iter().chain(&chosen).any(|other| text_similarity(other, &text) >= CUE_NEAR_DUPLICATE);
        if !near && lint_text(&text, locale).is_empty() {
            chosen.push(text);
        }
    }
    chosen
}

/// A product's attributes in one locale, ready to go into templates; those with a listed term
/// are left out (and noted).
struct Attributes {
    name: Option<String>,
    price: Option<String>,
    promo: Option<String>,
    tag: Option<String>,
    /// By position: the nth selling point of each locale makes card `point-n`.
    points: Vec<Option<String>>,
}

impl Attributes {
    fn of(product: &Product, locale: &str, notes: &mut Vec<String>) -> Self {
        let mut clean = |what: String, value: &str| {
            let hits = lint_text(value, locale);
            match hits.first() {
                None => Some(clause(value)),
                Some(hit) => {
                    notes.push(format!("{} {what} ({locale}) says {hit}; left out of generated cards", product.sku));
                    None
                }
            }
        };
        let name = first_in_locale(Some(&product.name), locale).and_then(|n| clean("name".into(), n));
        let promo = first_in_locale(product.promo.as_ref(), locale).and_then(|p| clean("promo".into(), p));
        let tag = product.tags.iter().find_map(|tag| tag_in(tag, locale)).and_then(|t| clean("tag".into(), &t));
        let points = product
            .selling_points
            .as_ref()
            .and_then(|t| in_locale(t, locale))
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(k, point)| clean(format!("selling point {}", k + 1), point))
            .collect();
        let price = product.price.as_ref().map(|p| format_price(p, is_chinese(locale)));
        Attributes { name, price, promo, tag, points }
    }

    fn slots(&self) -> Slots {
        Slots {
            name: self.name.clone(),
            price: self.price.clone(),
            promo: self.promo.clone(),
            tag: self.tag.clone(),
            point: None,
        }
    }
}

/// The values a template's `{name}`, `{price}`, `{promo}`, `{tag}` and `{point}` take.
struct Slots {
    name: Option<String>,
    price: Option<String>,
    promo: Option<String>,
    tag: Option<String>,
    point: Option<String>,
}

impl Slots {
    /// The template filled in, with how many placeholders it used; `None` when one has no value.
    fn fill(&self, template: &str) -> Option<(usize, String)> {
        let mut out = String::new();
        let mut used = 0;
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}')?;
            let value = match &rest[open + 1..close] {
                "name" => &self.name,
                "price" => &self.price,
                "promo" => &self.promo,
                "tag" => &self.tag,
                "point" => &self.point,
                _ => return None,
            };
            out.push_str(&rest[..open]);
            out.push_str(value.as_deref()?);
            used += 1;
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        Some((used, out))
    }
}

/// The variants of `text` in `locale`: exactly, else in the same language.
fn in_locale<'t>(text: &'t Text, locale: &str) -> Option<&'t [String]> {
    text.0
        .get(locale)
        .or_else(|| text.0.iter().find(|(l, _)| language(l) == language(locale)).map(|(_, v)| v))
        .map(Vec::as_slice)
}

fn first_in_locale<'t>(text: Option<&'t Text>, locale: &str) -> Option<&'t String> {
    text.and_then(|t| in_locale(t, locale)).and_then(|v| v.first())
}

/// A tag as words of `locale`, if it is written in its script (tags are not localized).
fn tag_in(tag: &str, locale: &str) -> Option<String> {
    let has_han = tag.chars().any(|c| matches!(c, '\u{4E00}'..='\u{9FFF}'));
    if is_chinese(locale) {
        has_han.then(|| tag.to_owned())
    } else {
        (!has_han && tag.chars().any(|c| c.is_alphabetic())).then(|| tag.replace(['-', '_'], " "))
    }
}

/// A text without the sentence punctuation at its end, ready to go inside a sentence.
fn clause(text: &str) -> String {
    text.trim().trim_end_matches(|c: char| "。！!？?.，,；;：:、…~～".contains(c) || c.is_whitespace()).to_owned()
}

fn format_price(price: &Price, chinese: bool) -> String {
    let (whole, fraction) = price.amount.split_once('.').unwrap_or((&price.amount, ""));
    let amount = if fraction.bytes().all(|b| b == b'0') { whole } else { &price.amount };
    let symbol = match price.currency.as_str() {
        "CNY" if chinese => return format!("{amount}元"),
        "CNY" | "JPY" => "¥",
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "HKD" => "HK$",
        code => return format!("{amount} {code}"),
    };
    format!("{symbol}{amount}")
}

fn is_chinese(locale: &str) -> bool {
    language(locale) == "zh"
}

/// FNV-1a: the same on every machine and Rust version, unlike the standard library's hashers.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The sentences of one language for each kind of card.
struct Templates {
    intro: &'static [&'static str],
    point: &'static [&'static str],
    price: &'static [&'static str],
    call_to_action: &'static [&'static str],
}

impl Templates {
    fn for_kind(&self, kind: CardKind) -> &'static [&'static str] {
        match kind {
            CardKind::Intro => self.intro,
            CardKind::SellingPoint => self.point,
            CardKind::Price => self.price,
            CardKind::CallToAction => self.call_to_action,
        }
    }
}

/// Simplified Chinese: zh, zh-CN, zh-SG, zh-Hans (not zh-TW, zh-HK, zh-MO, zh-Hant).
fn templates_for(locale: &str) -> Option<&'static Templates> {
    let mut parts = locale.split(['-', '_']).map(str::to_ascii_lowercase);
    match parts.next().as_deref() {
        Some("en") => Some(&ENGLISH),
        Some("zh") if !parts.any(|p| matches!(p.as_str(), "tw" | "hk" | "mo" | "hant")) => Some(&CHINESE),
        _ => None,
    }
}

const CHINESE: Templates = Templates {
    intro: &[
        "家人们看过来，今天给大家介绍这款{name}。",
        "接下来这款是{name}，大家仔细看一看。",
        "镜头前这款就是{name}，喜欢的家人们扣个1。",
        "欢迎刚进直播间的家人们，现在手上拿的是{name}。",
        "给大家上新一款{name}，先来看看细节。",
        "今天{tag}专区的好物：{name}，一起来看看。",
    ],
    point: &[
        "给大家说说它的亮点：{point}。",
        "{point}，这一点家人们可以重点看一下。",
        "家人们注意听，{point}。",
        "说到{name}，{point}。",
        "再强调一下，{point}，这是它的特点之一。",
        "记一下这个卖点：{point}。",
    ],
    price: &[
        "直播间价格{price}，{promo}。",
        "现在下单{price}，还有{promo}。",
        "{promo}，到手价{price}，喜欢就下单。",
        "价格给大家报一下：{price}，另外{promo}。",
        "{price}就能带回家，{promo}。",
        "直播间价格{price}，喜欢的家人们可以下单。",
        "价格给大家报一下：{price}。",
        "这款现在{price}，链接已经上好了。",
        "福利给大家说一下：{promo}。",
        "{promo}，喜欢的家人们抓紧。",
    ],
    call_to_action: &[
        "喜欢{name}的家人们，点击下方购物车就能下单。",
        "有问题在评论区留言，我马上回答；想要{name}的直接下单。",
        "还在犹豫的家人们，{name}的链接已经上好了。",
        "需要的家人们现在就可以下单{name}。",
        "{name}已经上架，点购物车就能买。",
    ],
};

const ENGLISH: Templates = Templates {
    intro: &[
        "Welcome in, everyone: this is {name}.",
        "Take a close look at what I am holding: {name}.",
        "Next up: {name}. Let me show you the details.",
        "Here it is, {name}, right in front of the camera.",
        "If you just joined us, say hi! We are looking at {name}.",
        "From our {tag} range today: {name}.",
    ],
    point: &[
        "Here is a highlight: {point}.",
        "Worth knowing about {name}: {point}.",
        "One detail to notice: {point}.",
        "{point}. That is a big part of its appeal.",
        "Let me point this out: {point}.",
        "Keep this in mind: {point}.",
    ],
    price: &[
        "The price today is {price}. {promo}!",
        "{promo}, and it is {price} right now.",
        "It is {price} in the live room. On top of that: {promo}.",
        "You can take it home for {price}. {promo}.",
        "The price today is {price}.",
        "You can take it home for {price}.",
        "It is {price} in the live room right now.",
        "Today's offer: {promo}.",
        "A little extra for you today: {promo}.",
    ],
    call_to_action: &[
        "Want {name}? Tap the cart below to order.",
        "Questions? Ask in the chat. Ready? Add {name} to your cart.",
        "The link for {name} is up now. Tap the cart to get yours.",
        "If {name} is for you, you can order it right now.",
        "Tap the cart and {name} is on its way to you.",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_catalog;

    #[test]
    fn similarity_ignores_case_spaces_and_punctuation() {
        assert_eq!(text_similarity("Hello, World!", "hello world"), 1.0);
        assert_eq!(text_similarity("abc", "xyz"), 0.0);
        assert_eq!(text_similarity("", ""), 1.0);
        assert_eq!(text_similarity("好", "好"), 1.0);
        let close = text_similarity("双层不锈钢真空内胆，热水六小时还是烫的", "双层不锈钢真空内胆，热水六小时还很烫");
        assert!(close >= CUE_NEAR_DUPLICATE, "{close}");
        let apart = text_similarity("家人们看过来，今天给大家介绍这款保温杯。", "接下来这款是保温杯，大家仔细看一看。");
        assert!(apart < CUE_NEAR_DUPLICATE, "{apart}");
    }

    #[test]
    fn every_template_fills_and_says_no_listed_term() {
        let slots = |chinese: bool| Slots {
            name: Some(if chinese { "保温杯" } else { "the tumbler" }.into()),
            price: Some(if chinese { "59元" } else { "$59" }.into()),
            promo: Some(if chinese { "下单送杯刷" } else { "Free cup brush" }.into()),
            tag: Some(if chinese { "水杯" } else { "travel" }.into()),
            point: Some(if chinese { "密封圈可以拆洗" } else { "The seal comes out for cleaning" }.into()),
        };
        for (locale, templates) in [("zh-CN", &CHINESE), ("en", &ENGLISH)] {
            let slots = slots(locale == "zh-CN");
            for kind in [CardKind::Intro, CardKind::SellingPoint, CardKind::Price, CardKind::CallToAction] {
                assert!(templates.for_kind(kind).len() >= 5, "{locale} {kind:?}");
                for template in templates.for_kind(kind) {
                    let (_, text) = slots.fill(template).unwrap_or_else(|| panic!("{template} does not fill"));
                    assert!(!text.contains(['{', '}']), "{text}");
                    assert_eq!(lint_text(&text, locale), vec![], "{text}");
                }
            }
        }
    }

    #[test]
    fn a_template_needs_every_attribute_it_names() {
        let slots = Slots { name: Some("Mug".into()), price: None, promo: None, tag: None, point: None };
        assert_eq!(slots.fill("Look: {name}!"), Some((1, "Look: Mug!".into())));
        assert_eq!(slots.fill("{name} for {price}"), None);
        assert_eq!(slots.fill("{unknown}"), None);
        assert_eq!(slots.fill("{name"), None);
    }

    #[test]
    fn prices_read_naturally() {
        let price = |amount: &str, currency: &str| Price { amount: amount.into(), currency: currency.into() };
        assert_eq!(format_price(&price("89.00", "CNY"), true), "89元");
        assert_eq!(format_price(&price("59.90", "CNY"), false), "¥59.90");
        assert_eq!(format_price(&price("12", "USD"), true), "$12");
        assert_eq!(format_price(&price("7.5", "CHF"), false), "7.5 CHF");
    }

    #[test]
    fn templates_exist_for_simplified_chinese_and_english_only() {
        for (locale, has) in [
            ("zh-CN", true),
            ("zh", true),
            ("zh-Hans-SG", true),
            ("zh-TW", false),
            ("zh-Hant", false),
            ("en-GB", true),
            ("fr", false),
        ] {
            assert_eq!(templates_for(locale).is_some(), has, "{locale}");
        }
    }

    const CATALOG: &str = "version: 1\ndefault_locale: en\nproducts:\n  - sku: MUG-1\n    name: {en: Camp mug, zh-CN: 露营杯, fr: Tasse}\n    price: {amount: 25.00, currency: USD}\n    promo: {en: Second mug half price, zh-CN: 全网最低价}\n    tags: [outdoor-gear, 户外]\n    selling_points: {en: [Enamel coated steel, Weighs 200 g], zh-CN: [搪瓷涂层钢, 重量只有200克]}\n    script: [{id: price, text: {en: Our own price card, zh-CN: 我们自己的价格卡}}]\n";

    #[test]
    fn cards_are_added_in_script_order_and_reported() {
        let catalog = parse_catalog(CATALOG).unwrap().catalog;
        let (out, report) = generate_cards(&catalog, 5, 3);
        let ids: Vec<&str> = out.products[0].script.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, vec!["price", "intro", "point-1", "point-2", "cta"]);
        assert!(out.products[0].script[1..].iter().all(|c| c.generated && c.text.0.keys().eq(["en", "zh-CN"])));
        assert!(!out.products[0].script[0].generated);
        let rendered = report.to_string();
        assert!(
            rendered.starts_with("MUG-1: added intro, point-1, point-2, cta (variants: en 3, zh-CN 3)\n"),
            "{rendered}"
        );
        assert!(rendered.contains("note: locale fr: no templates"), "{rendered}");
        assert!(rendered.contains("note: MUG-1 promo (zh-CN) says \"全网最低\" (price-claim)"), "{rendered}");
        let intro_en = &out.products[0].script[1].text.0["en"];
        assert!(intro_en.iter().any(|t| t.contains("outdoor gear range")), "{intro_en:?}");
    }

    #[test]
    fn too_few_attributes_are_reported_and_nothing_is_done_twice() {
        let catalog = parse_catalog(
            "version: 1\nproducts: [{sku: A, name: {zh-CN: 杯子}}, {sku: B, name: b, script: [{id: x, text: y}]}]",
        )
        .unwrap()
        .catalog;
        let (out, report) = generate_cards(&catalog, 3, 2);
        assert_eq!(out.products[0].script.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), vec!["intro", "cta"]);
        assert!(
            report
                .notes
                .contains(&"A: 2 cue cards, fewer than 3: add selling_points, a price or a promo for more".to_owned()),
            "{report}"
        );
        let (again, second) = generate_cards(&out, 2, 2);
        assert_eq!(again, out);
        assert!(second.products.iter().all(|p| p.added.is_empty()));
        assert_eq!(generate_cards(&catalog, 3, 0).0, catalog);
    }
}
