//! Catalog file (CONTRACT §4) → validated [`Catalog`], with every problem located.

use std::collections::{BTreeMap, HashSet};

use crate::yaml::{self, Location, Node};
use crate::{Catalog, CueCard, FaqEntry, Price, Problem, Product, Text};

/// A reference photo named by the catalog, with where it was named.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRef {
    pub sku: String,
    /// The path as written in the file (relative to the file unless absolute).
    pub written: String,
    pub at: Location,
    pub path: String,
}

/// A parsed and validated catalog file.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub catalog: Catalog,
    pub images: Vec<ImageRef>,
    pub locations: Locations,
}

/// Where each field of a catalog file was written, by field path (`products[2].price`). Every
/// variant of a text has its canonical path with locale and index, however it was written:
/// `products[2].script[0].text.zh-CN[1]`, or `products[0].name.zh-CN[0]` for `name: 茶`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Locations(BTreeMap<String, Location>);

impl Locations {
    /// Where `path` was written or, for a field that was not (a missing price), where its
    /// closest written parent was.
    pub fn find(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(at) = self.0.get(path) {
                return Some(*at);
            }
            if path.is_empty() {
                return None;
            }
            path = &path[..path.rfind(['.', '[']).unwrap_or(0)];
        }
    }
}

const SUPPORTED_VERSION: u32 = 1;
/// Active ISO 4217 currency codes.
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP \
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF \
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD \
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR \
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY \
    TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";
const DEFAULT_LOCALE: &str = "zh-CN";

/// Parses and validates a whole catalog file, returning every problem found (sorted by place).
pub fn parse_catalog(text: &str) -> Result<Parsed, Vec<Problem>> {
    let root = yaml::parse(text).map_err(|p| vec![p])?;
    let mut v = Validator::default();
    let catalog = v.catalog(&root);
    if v.problems.is_empty()
        && let Some(catalog) = catalog
    {
        return Ok(Parsed { catalog, images: v.images, locations: Locations(v.locations) });
    }
    v.problems.sort_by_key(|p| (p.line, p.column));
    Err(v.problems)
}

/// Checks a YAML tree field by field, collecting every problem (also reads the advertising word list).
#[derive(Default)]
pub(crate) struct Validator {
    pub(crate) problems: Vec<Problem>,
    images: Vec<ImageRef>,
    locations: BTreeMap<String, Location>,
    default_locale: String,
    faq_ids: HashSet<String>,
}

impl Validator {
    pub(crate) fn problem(&mut self, at: Location, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(at, path, message.into()));
    }

    fn record(&mut self, path: &str, at: Location) {
        self.locations.insert(path.to_owned(), at);
    }

    /// Records each variant under `{path}[i]`, `path` naming the locale.
    fn record_variants(&mut self, node: &Node, path: &str) {
        match node {
            Node::Seq { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    self.record(&format!("{path}[{i}]"), item.at());
                }
            }
            _ => self.record(&format!("{path}[0]"), node.at()),
        }
    }

    /// The entries of a map with only the `allowed` keys; `None` (and a problem) otherwise.
    pub(crate) fn map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'n [(String, Location, Node)]> {
        let Node::Map { entries, .. } = node else {
            self.problem(node.at(), path, format!("expected a map, found {}", node.kind()));
            return None;
        };
        self.record(path, node.at());
        for (key, at, value) in entries {
            self.record(&join(path, key), value.at());
            if !allowed.contains(&key.as_str()) {
                let hint = allowed.join(", ");
                self.problem(*at, &join(path, key), format!("unknown field {key:?} (expected one of: {hint})"));
            }
        }
        Some(entries)
    }

    pub(crate) fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node {
            Node::Scalar { value, .. } if !node.is_null() => {
                if value.trim().is_empty() {
                    self.problem(node.at(), path, "must not be blank");
                    return None;
                }
                Some(value.clone())
            }
            _ => {
                self.problem(node.at(), path, format!("expected a string, found {}", node.kind()));
                None
            }
        }
    }

    pub(crate) fn string_list(&mut self, node: &Node, path: &str) -> Vec<String> {
        match node {
            Node::Seq { items, .. } => {
                items.iter().enumerate().filter_map(|(i, n)| self.string(n, &format!("{path}[{i}]"))).collect()
            }
            n if n.is_null() => Vec::new(),
            n => {
                self.problem(n.at(), path, format!("expected a list of strings, found {}", n.kind()));
                Vec::new()
            }
        }
    }

    /// A string, a list of variants, or a map from locale to either.
    fn text(&mut self, node: &Node, path: &str) -> Option<Text> {
        let mut out = BTreeMap::new();
        match node {
            Node::Map { entries, .. } => {
                if entries.is_empty() {
                    self.problem(node.at(), path, "expected at least one locale");
                    return None;
                }
                for (locale, at, value) in entries {
                    let sub = join(path, locale);
                    if !is_locale(locale) {
                        self.problem(*at, &sub, format!("{locale:?} is not a locale like zh-CN or en"));
                        continue;
                    }
                    if let Some(variants) = self.variants(value, &sub) {
                        self.record_variants(value, &sub);
                        out.insert(locale.clone(), variants);
                    }
                }
            }
            _ => {
                let variants = self.variants(node, path)?;
                let locale = self.default_locale.clone();
                self.record_variants(node, &join(path, &locale));
                out.insert(locale, variants);
            }
        }
        (!out.is_empty()).then_some(Text(out))
    }

    fn variants(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match node {
            Node::Seq { items, .. } if items.is_empty() => {
                self.problem(node.at(), path, "expected at least one text");
                None
            }
            Node::Seq { .. } => {
                let before = self.problems.len();
                let list = self.string_list(node, path);
                (self.problems.len() == before).then_some(list)
            }
            _ => self.string(node, path).map(|s| vec![s]),
        }
    }

    fn catalog(&mut self, root: &Node) -> Option<Catalog> {
        let entries = self.map(root, "", &["version", "default_locale", "faq", "products", "banned_words"])?;
        let field = |name: &str| entries.iter().find(|(k, _, _)| k == name).map(|(_, _, n)| n);
        let version = match field("version") {
            None => {
                self.problem(root.at(), "version", format!("missing (this Cuebox reads version: {SUPPORTED_VERSION})"));
                None
            }
            Some(n) => match n {
                Node::Scalar { value, plain: true, .. } if value.parse() == Ok(SUPPORTED_VERSION) => {
                    Some(SUPPORTED_VERSION)
                }
                n => {
                    self.problem(
                        n.at(),
                        "version",
                        format!("unsupported version (this Cuebox reads version: {SUPPORTED_VERSION})"),
                    );
                    None
                }
            },
        };
        self.default_locale = match field("default_locale") {
            None => DEFAULT_LOCALE.to_owned(),
            Some(n) => match self.string(n, "default_locale") {
                Some(l) if is_locale(&l) => l,
                Some(l) => {
                    self.problem(n.at(), "default_locale", format!("{l:?} is not a locale like zh-CN or en"));
                    DEFAULT_LOCALE.to_owned()
                }
                None => DEFAULT_LOCALE.to_owned(),
            },
        };
        let faq = field("faq").map(|n| self.faq_list(n, "faq")).unwrap_or_default();
        let mut products = Vec::new();
        let mut skus = HashSet::new();
        match field("products") {
            Some(Node::Seq { items, .. }) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("products[{i}]");
                    if let Some(product) = self.product(item, &path) {
                        if skus.insert(product.sku.clone()) {
                            products.push(product);
                        } else {
                            self.problem(item.at(), &format!("{path}.sku"), format!("duplicate sku {:?}", product.sku));
                        }
                    }
                }
            }
            Some(n) if n.is_null() => {}
            Some(n) => self.problem(n.at(), "products", format!("expected a list of products, found {}", n.kind())),
            None => self.problem(root.at(), "products", "missing (a list of products)"),
        }
        let banned_words = field("banned_words").map(|n| self.string_list(n, "banned_words")).unwrap_or_default();
        for (i, word) in banned_words.iter().enumerate() {
            if word.trim().is_empty()
                && let Some(node) = field("banned_words")
            {
                self.problem(node.at(), &format!("banned_words[{i}]"), "an empty word");
            }
        }
        Some(Catalog { version: version?, default_locale: self.default_locale.clone(), faq, products, banned_words })
    }

    fn faq_list(&mut self, node: &Node, path: &str) -> Vec<FaqEntry> {
        let Node::Seq { items, .. } = node else {
            if !node.is_null() {
                self.problem(node.at(), path, format!("expected a list of questions, found {}", node.kind()));
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(entries) = self.map(item, &path, &["id", "q", "a"]) else { continue };
            let id = self.required(entries, item, &path, "id").and_then(|(n, p)| self.identifier(n, &p));
            let q = self.required(entries, item, &path, "q").and_then(|(n, p)| self.text(n, &p));
            let a = self.required(entries, item, &path, "a").and_then(|(n, p)| self.text(n, &p));
            if let Some(id) = &id
                && !self.faq_ids.insert(id.clone())
            {
                self.problem(item.at(), &format!("{path}.id"), format!("duplicate FAQ id {id:?}"));
                continue;
            }
            if let (Some(id), Some(q), Some(a)) = (id, q, a) {
                out.push(FaqEntry { id, q, a });
            }
        }
        out
    }

    fn required<'n>(
        &mut self,
        entries: &'n [(String, Location, Node)],
        parent: &Node,
        path: &str,
        name: &str,
    ) -> Option<(&'n Node, String)> {
        let found = entries.iter().find(|(k, _, _)| k == name).map(|(_, _, n)| n);
        if found.is_none() {
            self.problem(parent.at(), &join(path, name), "missing");
        }
        found.map(|n| (n, join(path, name)))
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node {
            Node::Scalar { value, plain: true, .. } if matches!(value.as_str(), "true" | "True" | "TRUE") => Some(true),
            Node::Scalar { value, plain: true, .. } if matches!(value.as_str(), "false" | "False" | "FALSE") => {
                Some(false)
            }
            n => {
                self.problem(n.at(), path, "expected true or false");
                None
            }
        }
    }

    fn identifier(&mut self, node: &Node, path: &str) -> Option<String> {
        let id = self.string(node, path)?;
        if is_identifier(&id) {
            Some(id)
        } else {
            self.problem(node.at(), path, format!("{id:?} must match [A-Za-z0-9._-]{{1,64}}"));
            None
        }
    }

    fn product(&mut self, node: &Node, path: &str) -> Option<Product> {
        let allowed =
            ["sku", "name", "brand", "price", "promo", "selling_points", "tags", "barcodes", "images", "script", "faq"];
        let entries = self.map(node, path, &allowed)?;
        let field = |name: &str| entries.iter().find(|(k, _, _)| k == name).map(|(_, _, n)| n);
        let sku = self.required(entries, node, path, "sku").and_then(|(n, p)| self.identifier(n, &p));
        let name = self.required(entries, node, path, "name").and_then(|(n, p)| self.text(n, &p));
        let brand = field("brand").and_then(|n| self.string(n, &join(path, "brand")));
        let price = field("price").and_then(|n| self.price(n, &join(path, "price")));
        let promo = field("promo").and_then(|n| self.text(n, &join(path, "promo")));
        let selling_points = field("selling_points").and_then(|n| self.text(n, &join(path, "selling_points")));
        let tags = field("tags").map(|n| self.string_list(n, &join(path, "tags"))).unwrap_or_default();
        let barcodes = field("barcodes").map(|n| self.barcodes(n, &join(path, "barcodes"))).unwrap_or_default();
        let script = field("script").map(|n| self.script(n, &join(path, "script"))).unwrap_or_default();
        let faq = field("faq").map(|n| self.faq_list(n, &join(path, "faq"))).unwrap_or_default();
        let mut images = Vec::new();
        if let Some(n) = field("images") {
            let list_path = join(path, "images");
            let items: &[Node] = match n {
                Node::Seq { items, .. } => items,
                n if n.is_null() => &[],
                n => {
                    self.problem(n.at(), &list_path, format!("expected a list of image paths, found {}", n.kind()));
                    &[]
                }
            };
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{list_path}[{i}]");
                self.record(&item_path, item.at());
                if let Some(written) = self.string(item, &item_path) {
                    images.push((written, item.at()));
                }
            }
        }
        let sku = sku?;
        for (written, at) in &images {
            self.images.push(ImageRef { sku: sku.clone(), written: written.clone(), at: *at, path: written.clone() });
        }
        Some(Product {
            sku,
            name: name?,
            brand,
            price,
            promo,
            selling_points,
            tags,
            barcodes,
            images: images.into_iter().map(|(w, _)| w).collect(),
            script,
            faq,
        })
    }

    fn price(&mut self, node: &Node, path: &str) -> Option<Price> {
        let entries = self.map(node, path, &["amount", "currency"])?;
        let amount = self.required(entries, node, path, "amount").and_then(|(n, p)| match n {
            Node::Scalar { value, plain: true, .. } if is_amount(value) => Some(value.clone()),
            n => {
                self.problem(n.at(), &p, "expected a non-negative amount like 128.00");
                None
            }
        });
        let currency = self.required(entries, node, path, "currency").and_then(|(n, p)| {
            let c = self.string(n, &p)?;
            if ISO_4217.split_whitespace().any(|code| code == c) {
                Some(c)
            } else {
                let hint = if c.eq_ignore_ascii_case("RMB") { " (renminbi is CNY)" } else { "" };
                self.problem(n.at(), &p, format!("{c:?} is not an ISO 4217 code like CNY or USD{hint}"));
                None
            }
        });
        Some(Price { amount: amount?, currency: currency? })
    }

    fn barcodes(&mut self, node: &Node, path: &str) -> Vec<String> {
        let Node::Seq { items, .. } = node else {
            return self.string_list(node, path);
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let sub = format!("{path}[{i}]");
            let code = match item {
                Node::Scalar { value, .. } if !item.is_null() => value.trim().to_owned(),
                n => {
                    self.problem(n.at(), &sub, format!("expected a barcode string, found {}", n.kind()));
                    continue;
                }
            };
            if let Some(message) = barcode_problem(&code) {
                self.problem(item.at(), &sub, message);
            } else {
                out.push(code);
            }
        }
        out
    }

    fn script(&mut self, node: &Node, path: &str) -> Vec<CueCard> {
        let Node::Seq { items, .. } = node else {
            if !node.is_null() {
                self.problem(node.at(), path, format!("expected a list of cue cards, found {}", node.kind()));
            }
            return Vec::new();
        };
        let mut ids = HashSet::new();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let Some(entries) = self.map(item, &path, &["id", "text", "generated"]) else { continue };
            let id = self.required(entries, item, &path, "id").and_then(|(n, p)| self.identifier(n, &p));
            let text = self.required(entries, item, &path, "text").and_then(|(n, p)| self.text(n, &p));
            let generated = match entries.iter().find(|(k, _, _)| k == "generated") {
                Some((_, _, n)) => self.boolean(n, &join(&path, "generated")),
                None => Some(false),
            };
            if let Some(id) = &id
                && !ids.insert(id.clone())
            {
                self.problem(item.at(), &format!("{path}.id"), format!("duplicate cue card id {id:?}"));
                continue;
            }
            if let (Some(id), Some(text), Some(generated)) = (id, text, generated) {
                out.push(CueCard { id, text, generated });
            }
        }
        out
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// `[A-Za-z0-9._-]{1,64}`: SKUs and ids.
pub fn is_identifier(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A BCP 47-style locale like `zh-CN` or `en`.
pub fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_amount(s: &str) -> bool {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    !whole.is_empty()
        && whole.len() <= 12
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 4
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// EAN-8, UPC-A and EAN-13 must carry a valid check digit; other payloads (QR) are free text.
fn barcode_problem(code: &str) -> Option<String> {
    if code.is_empty() || code.len() > 512 {
        return Some("a barcode payload must be 1 to 512 characters".into());
    }
    let numeric = code.bytes().all(|b| b.is_ascii_digit());
    if numeric && matches!(code.len(), 8 | 12 | 13) {
        let digits: Vec<u32> = code.bytes().map(|b| u32::from(b - b'0')).collect();
        let (check, body) = digits.split_last()?;
        let sum: u32 = body.iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
        if (10 - sum % 10) % 10 != *check {
            return Some(format!("{code} has a wrong check digit (EAN/UPC)"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version: 1
default_locale: zh-CN
faq:
  - id: ship-time
    q: ["什么时候发货", "多久发货"]
    a: "付款后48小时内发货。"
products:
  - sku: TEA-001
    name: {zh-CN: 西湖龙井 250g, en: West Lake Longjing tea 250g}
    price: {amount: 128.00, currency: CNY}
    promo: 直播间专享 第二件半价
    tags: [tea, green-tea]
    barcodes: ["6901234567892"]
    images: [images/tea-001-front.jpg]
    script:
      - id: intro
        text: ["今天给大家带来...", "家人们看这款..."]
      - id: origin
        text: {zh-CN: "核心产区...", en: "From the core region..."}
    faq:
      - id: tea-001-brew
        q: ["怎么泡", "水温多少合适"]
        a: "80度左右的水，先洗茶..."
"#;

    #[test]
    fn the_contract_example_parses() {
        let parsed = parse_catalog(GOOD).unwrap();
        let c = &parsed.catalog;
        assert_eq!(c.default_locale, "zh-CN");
        assert_eq!(c.faq[0].q.0["zh-CN"], vec!["什么时候发货", "多久发货"]);
        let p = &c.products[0];
        assert_eq!(p.name.first("en", "zh-CN"), Some("West Lake Longjing tea 250g"));
        assert_eq!(p.price, Some(Price { amount: "128.00".into(), currency: "CNY".into() }));
        assert_eq!(p.script[0].text.0["zh-CN"].len(), 2);
        assert_eq!(p.faq[0].id, "tea-001-brew");
        assert_eq!(parsed.images[0].written, "images/tea-001-front.jpg");
        assert_eq!(parsed.images[0].at.line, 15, "the text starts with a newline");
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let bad = "version: 1\nproducts:\n  - sku: 'bad sku!'\n    name: Tea\n    colour: green\n  - sku: OK-1\n    price: {amount: -3, currency: yuan}\n    barcodes: ['6901234567890']\n";
        let problems = parse_catalog(bad).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let expect = [
            "3:10: products[0].sku: \"bad sku!\" must match",
            "5:5: products[0].colour: unknown field",
            "6:5: products[1].name: missing",
            "7:21: products[1].price.amount: expected a non-negative amount",
            "7:35: products[1].price.currency: \"yuan\" is not an ISO 4217 code",
            "8:16: products[1].barcodes[0]: 6901234567890 has a wrong check digit",
        ];
        assert_eq!(rendered.len(), expect.len(), "{rendered:#?}");
        for (got, want) in rendered.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn duplicates_across_the_file_are_found() {
        let text = "version: 1\nfaq: [{id: x, q: a, a: b}]\nproducts:\n  - {sku: A, name: a, faq: [{id: x, q: c, a: d}], script: [{id: i, text: t}, {id: i, text: u}]}\n  - {sku: A, name: b}\n";
        let problems = parse_catalog(text).unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("duplicate FAQ id")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("duplicate cue card id")), "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("duplicate sku")), "{messages:?}");
    }

    #[test]
    fn version_and_shape_are_checked() {
        assert!(parse_catalog("products: []").unwrap_err()[0].to_string().contains("version: missing"));
        assert!(parse_catalog("version: 2\nproducts: []").unwrap_err()[0].message.contains("unsupported"));
        assert!(parse_catalog("[1, 2]").unwrap_err()[0].message.contains("expected a map"));
        assert!(parse_catalog("version: 1\nproducts: []\n").is_ok());
    }

    #[test]
    fn json_catalogs_are_accepted() {
        let json = r#"{"version": 1, "products": [{"sku": "A-1", "name": {"en": "Mug"}, "price": {"amount": 9.5, "currency": "USD"}}]}"#;
        let parsed = parse_catalog(json).unwrap();
        assert_eq!(parsed.catalog.products[0].price.as_ref().unwrap().amount, "9.5");
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        let problems = parse_catalog("version: 1\nproducts: [{sku: A, name: a, price: {amount: 1, currency: RMB}}, {sku: B, name: b, price: {amount: 1, currency: XYZ}}]").unwrap_err();
        assert!(problems[0].message.contains("renminbi is CNY"), "{}", problems[0]);
        assert!(problems[1].message.contains("\"XYZ\" is not an ISO 4217 code"), "{}", problems[1]);
        assert!(parse_catalog("version: 1\nproducts: [{sku: A, name: a, price: {amount: 1, currency: HKD}}]").is_ok());
    }

    #[test]
    fn selling_points_are_a_text_and_generated_a_bool() {
        let text = "version: 1\nproducts:\n  - {sku: A, name: a, selling_points: crisp}\n  - {sku: B, name: b, selling_points: [crisp, light], script: [{id: i, text: t, generated: true}]}\n  - {sku: C, name: c, selling_points: {en: [crisp], zh-CN: 脆}, script: [{id: i, text: t, generated: false}, {id: j, text: u}]}\n";
        let c = parse_catalog(text).unwrap().catalog;
        let points: Vec<usize> = c
            .products
            .iter()
            .map(|p| p.selling_points.as_ref().map_or(0, |t| t.0.values().map(Vec::len).sum()))
            .collect();
        assert_eq!(points, vec![1, 2, 2]);
        assert_eq!(c.products[2].selling_points.as_ref().unwrap().0["zh-CN"], vec!["脆"]);
        let generated: Vec<bool> = c.products.iter().flat_map(|p| &p.script).map(|card| card.generated).collect();
        assert_eq!(generated, vec![true, false, false]);
        let problems = parse_catalog("version: 1\nproducts:\n  - {sku: A, name: a, selling_points: [], script: [{id: i, text: t, generated: yes}]}\n").unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            vec![
                "3:39: products[0].selling_points: expected at least one text",
                "3:80: products[0].script[0].generated: expected true or false"
            ]
        );
    }

    #[test]
    fn every_text_variant_is_located_under_its_canonical_path() {
        let text = "version: 1\nproducts:\n  - sku: A\n    name: Tea\n    promo: [one, two]\n    script:\n      - id: i\n        text: {en: hi, zh-CN: [你好, 您好]}\n";
        let locations = parse_catalog(text).unwrap().locations;
        let at = |path: &str| locations.find(path).map(|l| (l.line, l.column));
        assert_eq!(at("products[0].name.zh-CN[0]"), Some((4, 11)));
        assert_eq!(at("products[0].promo.zh-CN[1]"), Some((5, 18)));
        assert_eq!(at("products[0].script[0].text.en[0]"), Some((8, 20)));
        assert_eq!(at("products[0].script[0].text.zh-CN[1]"), Some((8, 36)));
        assert_eq!(at("products[0].price"), Some((3, 5)), "a missing field is placed at its product");
        assert_eq!(at("products[0].script[0].text.fr"), Some((8, 16)));
        assert_eq!(at("nowhere"), Some((1, 1)), "at worst, the document");
    }

    #[test]
    fn barcode_check_digits() {
        assert_eq!(barcode_problem("6901234567892"), None);
        assert_eq!(barcode_problem("036000291452"), None);
        assert_eq!(barcode_problem("96385074"), None);
        assert!(barcode_problem("036000291453").is_some());
        assert_eq!(barcode_problem("https://shop.example/p/1"), None);
    }
}
