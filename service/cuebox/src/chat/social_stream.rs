//! Social Stream Ninja's API server: a relay that a client joins with a session id and the
//! channels it listens and talks on (`/join/SESSION/IN/OUT`). With "send chat messages to the API
//! server" on, the extension relays every chat message it reads from 120+ sites to channel 4, one
//! JSON object per text frame: `chatname` (who), `chatmessage` (what: HTML unless `textonly`),
//! `type` (the site, e.g. `youtube`, `twitch`, `tiktok`), an `id`, and flags. Frames with a
//! truthy `event` (follows, subscriptions, donations without words...) are not chat, nor are
//! private messages, messages from bots or frames without `chatmessage` (callbacks, counts).

use serde_json::Value;

use super::connector::Frame;
use super::sources::ChatInput;

/// The channel the extension relays chat to.
pub const CHAT_CHANNEL: u8 = 4;

/// The URL that joins `session` on the chat channel of the server at `server`.
pub fn join_url(server: &str, session: &str) -> String {
    format!("{}/join/{session}/{CHAT_CHANNEL}", server.trim_end_matches('/'))
}

/// Reads one frame; `platform` overrides the site the frame names.
pub fn read(frame: &[u8], platform: Option<&str>) -> Frame {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(v) => v,
        Err(error) => return Frame::Rejected("not JSON", error.to_string()),
    };
    let Some(message) = value.as_object() else { return Frame::Rejected("not a message object", value.to_string()) };
    let flag = |key: &str| message.get(key).is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)) && v != "");
    if flag("event") {
        let event = message.get("event").and_then(Value::as_str).unwrap_or("event");
        return Frame::Ignored(format!("event {event}"));
    }
    if flag("private") || flag("bot") {
        return Frame::Ignored(if flag("private") { "private message".into() } else { "bot message".into() });
    }
    let Some(body) = message.get("chatmessage") else { return Frame::Ignored("not a chat message".into()) };
    let Some(body) = body.as_str() else {
        return Frame::Rejected("chatmessage not text", format!("chatmessage is {body}"));
    };
    let text = if message.get("textonly") == Some(&Value::Bool(true)) { body.to_owned() } else { html_to_text(body) };
    let field = |key: &str| match message.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let site = field("type").map(|t| t.to_ascii_lowercase()).unwrap_or_else(|| "social-stream".into());
    Frame::Chat(ChatInput {
        platform: platform.map(str::to_owned).unwrap_or(site),
        user: field("chatname"),
        text,
        ts: None,
        id: field("id"),
    })
}

/// The text of a message body: tags (emote images, formatting) dropped, entities decoded.
fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        match rest[open..].find('>') {
            Some(close) => {
                let tag = &rest[open..open + close + 1];
                if let Some(alt) = alt_text(tag) {
                    text.push_str(&alt);
                }
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    text.push_str(rest);
    decode_entities(&text)
}

/// An emoji image's `alt` text (sites render emoji as images with the emoji as alt).
fn alt_text(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    if !lower.starts_with("<img") {
        return None;
    }
    let at = lower.find("alt=\"")? + 5;
    let end = tag[at..].find('"')?;
    Some(tag[at..at + end].to_owned())
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" | "#39" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_are_read_as_text_with_their_site() {
        let frame = br#"{"chatname":"Ana","chatmessage":"is it <b>waterproof</b>? <img src=\"x.png\" alt=\"&#128166;\"> &amp; cheap","type":"youtube","id":5012,"textonly":false,"chatimg":"a.png"}"#;
        assert_eq!(
            read(frame, None),
            Frame::Chat(ChatInput {
                platform: "youtube".into(),
                user: Some("Ana".into()),
                text: "is it waterproof? 💦 & cheap".into(),
                ts: None,
                id: Some("5012".into()),
            })
        );
        let plain = br#"{"chatname":"B","chatmessage":"a <b> c","type":"TikTok","textonly":true}"#;
        assert!(matches!(read(plain, None), Frame::Chat(c) if c.text == "a <b> c" && c.platform == "tiktok"));
        assert!(matches!(read(plain, Some("shopee")), Frame::Chat(c) if c.platform == "shopee"));
        assert_eq!(join_url("wss://io.socialstream.ninja/", "abc"), "wss://io.socialstream.ninja/join/abc/4");
    }

    #[test]
    fn events_private_and_bot_messages_and_other_frames_are_ignored() {
        for (frame, kind) in [
            (&br#"{"chatname":"A","chatmessage":"","event":"follow","type":"twitch"}"#[..], "event follow"),
            (br#"{"chatname":"A","chatmessage":"hi","private":true}"#, "private message"),
            (br#"{"chatname":"A","chatmessage":"hi","bot":true}"#, "bot message"),
            (br#"{"callback":{"get":"x","result":true}}"#, "not a chat message"),
        ] {
            assert_eq!(read(frame, None), Frame::Ignored(kind.into()), "{:?}", String::from_utf8_lossy(frame));
        }
        assert!(matches!(read(br#"{"chatname":"A","chatmessage":"x","event":false}"#, None), Frame::Chat(_)));
        assert!(matches!(read(b"\x00\x01", None), Frame::Rejected("not JSON", _)));
        assert!(matches!(read(b"[]", None), Frame::Rejected("not a message object", _)));
        assert!(matches!(read(br#"{"chatmessage":{"a":1}}"#, None), Frame::Rejected("chatmessage not text", _)));
    }

    #[test]
    fn entities_and_broken_markup_do_not_lose_text() {
        assert_eq!(html_to_text("a &lt;3 &#x1F600; &bogus; & b"), "a <3 😀 &bogus; & b");
        assert_eq!(html_to_text("unclosed <b tag"), "unclosed <b tag");
    }
}
