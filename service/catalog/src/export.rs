//! Writes a [`Catalog`] back as a YAML catalog file that imports to the same catalog.

use std::fmt::Write;

use crate::{Catalog, FaqEntry, Text};

pub fn to_yaml(catalog: &Catalog) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "version: {}", catalog.version);
    let _ = writeln!(out, "default_locale: {}", quote(&catalog.default_locale));
    faq(&mut out, "", &catalog.faq);
    if !catalog.banned_words.is_empty() {
        let _ = writeln!(out, "banned_words: {}", strings(&catalog.banned_words));
    }
    out.push_str("products:\n");
    if catalog.products.is_empty() {
        out.truncate(out.len() - 1);
        out.push_str(" []\n");
    }
    for p in &catalog.products {
        let _ = writeln!(out, "  - sku: {}", quote(&p.sku));
        let _ = writeln!(out, "    name: {}", text(&p.name));
        if let Some(brand) = &p.brand {
            let _ = writeln!(out, "    brand: {}", quote(brand));
        }
        if let Some(price) = &p.price {
            let _ = writeln!(out, "    price: {{amount: {}, currency: {}}}", price.amount, quote(&price.currency));
        }
        if let Some(promo) = &p.promo {
            let _ = writeln!(out, "    promo: {}", text(promo));
        }
        if let Some(points) = &p.selling_points {
            let _ = writeln!(out, "    selling_points: {}", text(points));
        }
        for (key, list) in [("tags", &p.tags), ("barcodes", &p.barcodes), ("images", &p.images)] {
            if !list.is_empty() {
                let _ = writeln!(out, "    {key}: {}", strings(list));
            }
        }
        if !p.script.is_empty() {
            out.push_str("    script:\n");
            for card in &p.script {
                let _ = writeln!(out, "      - id: {}", quote(&card.id));
                let _ = writeln!(out, "        text: {}", text(&card.text));
                if card.generated {
                    out.push_str("        generated: true\n");
                }
            }
        }
        faq(&mut out, "    ", &p.faq);
    }
    out
}

fn faq(out: &mut String, indent: &str, entries: &[FaqEntry]) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}faq:");
    for e in entries {
        let _ = writeln!(out, "{indent}  - id: {}", quote(&e.id));
        let _ = writeln!(out, "{indent}    q: {}", text(&e.q));
        let _ = writeln!(out, "{indent}    a: {}", text(&e.a));
    }
}

fn text(t: &Text) -> String {
    let parts: Vec<String> =
        t.0.iter().map(|(locale, variants)| format!("{}: {}", quote(locale), strings(variants))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn strings(list: &[String]) -> String {
    format!("[{}]", list.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "))
}

/// A JSON string literal is a valid YAML double-quoted scalar.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_catalog;

    #[test]
    fn export_round_trips_through_the_parser() {
        let text = "version: 1\ndefault_locale: zh-CN\nfaq: [{id: s, q: [\"发货?\", 'when: \"now\"'], a: {en: soon, zh-CN: 很快}}]\nbanned_words: [加微信, 'deal: x']\nproducts:\n  - sku: A-1\n    name: {zh-CN: 茶, en: \"Tea: green\"}\n    brand: 'Hill: Tea'\n    price: {amount: 12.50, currency: CNY}\n    promo: '#1 deal'\n    selling_points: {en: [crisp, 'light: 2g'], zh-CN: 脆}\n    tags: [a, b]\n    barcodes: ['6901234567892']\n    images: [/abs/a.jpg]\n    script: [{id: intro, text: [one, \"two\\nlines\"]}, {id: gen, text: g, generated: true}, {id: own, text: o, generated: false}]\n    faq: [{id: f, q: q, a: a}]\n  - {sku: B, name: b}\n";
        let original = parse_catalog(text).unwrap().catalog;
        let points = original.products[0].selling_points.as_ref().map(|t| t.0["en"].len());
        let generated: Vec<bool> = original.products[0].script.iter().map(|c| c.generated).collect();
        assert_eq!((points, generated), (Some(2), vec![false, true, false]));
        assert_eq!(original.banned_words, ["加微信", "deal: x"]);
        let exported = to_yaml(&original);
        let again = parse_catalog(&exported).unwrap_or_else(|e| panic!("{e:?}\n{exported}")).catalog;
        assert_eq!(again, original);
        let empty = crate::Catalog {
            version: 1,
            default_locale: "en".into(),
            faq: vec![],
            products: vec![],
            banned_words: vec![],
        };
        assert_eq!(parse_catalog(&to_yaml(&empty)).unwrap().catalog, empty);
    }
}
