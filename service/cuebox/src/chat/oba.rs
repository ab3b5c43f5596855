//! oba-live-tool's comment feed: its comment listener broadcasts every live-room event it reads
//! from a seller console to the clients of a local WebSocket server (port 12354 unless set), one
//! JSON object per text frame. Every event has `msg_type` and `msg_id`; chat comments also carry
//! the viewer's `nick_name` and the `content` they wrote. `comment` comes from Douyin's consoles
//! and Kuaishou; WeChat Channels, Xiaohongshu and Taobao have their own comment types. The other
//! types (viewers entering, likes, follows, orders, fan-club and member sign-ups) are not chat.

use serde_json::Value;

use super::connector::Frame;
use super::sources::ChatInput;

/// The comment event types and the platform each comes from (`None`: the connector's platform).
const COMMENT_TYPES: &[(&str, Option<&str>)] = &[
    ("comment", None),
    ("wechat_channel_live_msg", Some("wechat-channels")),
    ("xiaohongshu_comment", Some("xiaohongshu")),
    ("taobao_comment", Some("taobao")),
];

/// Reads one frame; `platform` is the platform of plain `comment` events.
pub fn read(frame: &[u8], platform: &str) -> Frame {
    let value: Value = match serde_json::from_slice(frame) {
        Ok(v) => v,
        Err(error) => return Frame::Rejected("not JSON", error.to_string()),
    };
    let Some(event) = value.as_object() else { return Frame::Rejected("not an event object", kind_of(&value)) };
    let Some(msg_type) = event.get("msg_type").and_then(Value::as_str) else {
        return Frame::Rejected("no msg_type", "an event without a string msg_type".into());
    };
    let Some((_, own_platform)) = COMMENT_TYPES.iter().find(|(t, _)| *t == msg_type) else {
        return Frame::Ignored(msg_type.to_owned());
    };
    let Some(content) = event.get("content").and_then(Value::as_str) else {
        return Frame::Rejected("comment without content", format!("a {msg_type} event without a string content"));
    };
    let text = |key: &str| match event.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Frame::Chat(ChatInput {
        platform: own_platform.unwrap_or(platform).to_owned(),
        user: text("nick_name"),
        text: content.to_owned(),
        ts: None,
        id: text("msg_id"),
    })
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".into(),
        Value::String(_) => "a string".into(),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_of_every_platform_are_read_and_other_events_ignored() {
        let comment =
            r#"{"msg_type":"comment","msg_id":"7391","nick_name":"小鹿","content":"包邮吗","time":"20:15:03"}"#
                .as_bytes();
        assert_eq!(
            read(comment, "douyin"),
            Frame::Chat(ChatInput {
                platform: "douyin".into(),
                user: Some("小鹿".into()),
                text: "包邮吗".into(),
                ts: None,
                id: Some("7391".into())
            })
        );
        let taobao =
            br#"{"msg_type":"taobao_comment","msg_id":"a1","nick_name":"t","user_id":"u","content":"hi","time":"1"}"#;
        assert!(matches!(read(taobao, "douyin"), Frame::Chat(c) if c.platform == "taobao"));
        let like = br#"{"msg_type":"room_like","msg_id":"2","nick_name":"x","user_id":"9","time":"t"}"#;
        assert_eq!(read(like, "douyin"), Frame::Ignored("room_like".into()));
        assert_eq!(read(br#"{"msg_type":"brand_new_event"}"#, "douyin"), Frame::Ignored("brand_new_event".into()));
    }

    #[test]
    fn garbage_is_rejected_by_kind() {
        for (frame, kind) in [
            (&b"not json"[..], "not JSON"),
            (b"[1,2]", "not an event object"),
            (br#"{"content":"x"}"#, "no msg_type"),
            (br#"{"msg_type":"comment","content":7}"#, "comment without content"),
        ] {
            assert!(
                matches!(read(frame, "douyin"), Frame::Rejected(k, _) if k == kind),
                "{:?}",
                String::from_utf8_lossy(frame)
            );
        }
    }
}
